package hsm

// CreateClientWithOpID lets the external tests repeat a CreateClient request
// as the engine's retry would, with the same OpID.
var CreateClientWithOpID = (*Partition).createClient
