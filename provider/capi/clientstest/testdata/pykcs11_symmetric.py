"""Drive AES-CBC and HMAC through a PKCS#11 module with PyKCS11 and print
what the Go test checks.

Usage: pykcs11_symmetric.py MODULE TOKEN_LABEL

The User PIN comes from the environment (KEYHOLD_TEST_PIN). The keys are
throwaway session keys the script makes with random values; it prints them,
with every input and output, as hex in one JSON object, so that the Go side
can check each result with its own standard library.
"""

import json
import os
import sys

import PyKCS11

MESSAGE = b"encrypted and authenticated through PyKCS11, not a whole block"


def secret(session, key_type, value, usage):
    template = [
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
        (PyKCS11.CKA_KEY_TYPE, key_type),
        (PyKCS11.CKA_TOKEN, False),
        (PyKCS11.CKA_PRIVATE, True),
        (PyKCS11.CKA_VALUE, value),
    ]
    return session.createObject(template + [(u, True) for u in usage])


def main():
    module, label = sys.argv[1], sys.argv[2]
    pin = os.environ["KEYHOLD_TEST_PIN"]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == label)
    session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(pin)

    aes_value, iv = os.urandom(32), os.urandom(16)
    aes = secret(session, PyKCS11.CKK_AES, aes_value, [PyKCS11.CKA_ENCRYPT, PyKCS11.CKA_DECRYPT])
    cbc = PyKCS11.Mechanism(PyKCS11.CKM_AES_CBC_PAD, iv)
    ciphertext = bytes(session.encrypt(aes, MESSAGE, cbc))
    decrypted = bytes(session.decrypt(aes, ciphertext, cbc))

    generated = session.generateKey(
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
            (PyKCS11.CKA_TOKEN, False),
            (PyKCS11.CKA_VALUE_LEN, 16),
            (PyKCS11.CKA_ENCRYPT, True),
            (PyKCS11.CKA_DECRYPT, True),
        ],
        PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN),
    )
    round_trip = bytes(session.decrypt(generated, bytes(session.encrypt(generated, MESSAGE, cbc)), cbc))

    hmac_value = os.urandom(32)
    hmac = secret(session, PyKCS11.CKK_GENERIC_SECRET, hmac_value, [PyKCS11.CKA_SIGN, PyKCS11.CKA_VERIFY])
    mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_HMAC)
    mac = bytes(session.sign(hmac, MESSAGE, mech))
    verified = session.verify(hmac, MESSAGE, mac, mech)
    tampered = bytearray(mac)
    tampered[0] ^= 1
    try:
        tampered_verified = session.verify(hmac, MESSAGE, bytes(tampered), mech)
    except PyKCS11.PyKCS11Error:
        tampered_verified = False

    session.logout()
    session.closeSession()
    print(json.dumps({
        "message": MESSAGE.hex(),
        "aes": {
            "key": aes_value.hex(),
            "iv": iv.hex(),
            "ciphertext": ciphertext.hex(),
            "decrypted": decrypted.hex(),
            "generated_round_trip": round_trip.hex(),
        },
        "hmac": {
            "key": hmac_value.hex(),
            "mac": mac.hex(),
            "verified": bool(verified),
            "tampered_verified": bool(tampered_verified),
        },
    }))


if __name__ == "__main__":
    main()
