/*
 * pq32: a C application of PKCS#11 v3.2's post-quantum mechanisms, as no
 * packaged client is yet. It asks the library for the "PKCS 11" 3.2
 * interface and, through that function list only:
 *
 *   - generates an ML-DSA-65 key pair, signs a message with a context string
 *     (CK_SIGN_ADDITIONAL_CONTEXT) and verifies the signature with
 *     C_VerifySignatureInit/C_VerifySignature;
 *   - generates an ML-KEM-768 key pair, prints its public key, reads a
 *     ciphertext from standard input and decapsulates it into an
 *     extractable secret key whose value it prints; then encapsulates to its
 *     own public key with C_EncapsulateKey and decapsulates that too.
 *
 * Usage: pq32 LIB TOKEN   (User PIN in KEYHOLD_PIN)
 *
 * Prints "name value" lines (values in hex, return codes as rv=0x...); a
 * step that fails prints its code and the program goes on where it can.
 * Exit status: 0 when it ran to the end, 2 when it could not start.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyhold_pkcs11.h"

/* keyhold_pkcs11.h declares what the library itself needs; these constants
 * of the specification are the caller's. */
#define CKO_PUBLIC_KEY 0x00000002UL
#define CKO_PRIVATE_KEY 0x00000003UL
#define CKO_SECRET_KEY 0x00000004UL
#define CKK_GENERIC_SECRET 0x00000010UL
#define CKK_ML_KEM 0x00000049UL
#define CKK_ML_DSA 0x0000004AUL
#define CKA_CLASS 0x00000000UL
#define CKA_TOKEN 0x00000001UL
#define CKA_PRIVATE 0x00000002UL
#define CKA_VALUE 0x00000011UL
#define CKA_KEY_TYPE 0x00000100UL
#define CKA_SENSITIVE 0x00000103UL
#define CKA_SIGN 0x00000108UL
#define CKA_VERIFY 0x0000010AUL
#define CKA_EXTRACTABLE 0x00000162UL
#define CKA_PARAMETER_SET 0x0000061DUL
#define CKA_ENCAPSULATE 0x00000633UL
#define CKA_DECAPSULATE 0x00000634UL
#define CKM_ML_KEM_KEY_PAIR_GEN 0x0000000FUL
#define CKM_ML_KEM 0x00000017UL
#define CKM_ML_DSA_KEY_PAIR_GEN 0x0000001CUL
#define CKM_ML_DSA 0x0000001DUL
#define CKP_ML_DSA_65 0x00000002UL
#define CKP_ML_KEM_768 0x00000002UL
#define CKH_HEDGE_REQUIRED 0x00000001UL
#define CKU_USER 1UL

static const char message[] = "signed by a C caller through PKCS#11 3.2";
static const char context[] = "keyhold pq32";

static CK_FUNCTION_LIST_3_2_PTR p11;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static void print_hex(const char *name, const CK_BYTE *b, CK_ULONG n)
{
	printf("%s ", name);
	for (CK_ULONG i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static int unhex(const char *s, CK_BYTE *out, size_t cap, size_t *n)
{
	size_t len = strcspn(s, "\r\n");
	if (len % 2 != 0 || len / 2 > cap)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (CK_BYTE)v;
	}
	*n = len / 2;
	return 0;
}

/* read_value reads an attribute in the two calls of PKCS#11: length, then
 * value. The caller frees the result. */
static CK_BYTE *read_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
			   CK_ATTRIBUTE_TYPE type, CK_ULONG *n, CK_RV *rv)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_BYTE *v;

	*rv = p11->C_GetAttributeValue(s, o, &a, 1);
	if (*rv != CKR_OK)
		return NULL;
	v = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (v == NULL) {
		*rv = CKR_GENERAL_ERROR;
		return NULL;
	}
	a.pValue = v;
	*rv = p11->C_GetAttributeValue(s, o, &a, 1);
	if (*rv != CKR_OK) {
		free(v);
		return NULL;
	}
	*n = a.ulValueLen;
	return v;
}

static void print_value(const char *name, CK_SESSION_HANDLE s,
			CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG n = 0;
	CK_RV rv;
	CK_BYTE *v = read_value(s, o, type, &n, &rv);

	if (v == NULL) {
		printf("%s rv=0x%lx\n", name, rv);
		return;
	}
	print_hex(name, v, n);
	free(v);
}

/*
 * gen_pair generates a session key pair of key type kt and parameter set
 * set with mechanism mech, the public key allowed pub_use and the private
 * key priv_use, and prints the call's code as "name rv=0x...".
 */
static CK_RV gen_pair(CK_SESSION_HANDLE s, const char *name,
		      CK_MECHANISM_TYPE mech, CK_KEY_TYPE kt, CK_ULONG set,
		      CK_ATTRIBUTE_TYPE pub_use, CK_ATTRIBUTE_TYPE priv_use,
		      CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY, priv_class = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE pub_t[] = {
		{ CKA_CLASS, &pub_class, sizeof pub_class },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &no, sizeof no },
		{ pub_use, &yes, sizeof yes },
		{ CKA_PARAMETER_SET, &set, sizeof set },
	};
	CK_ATTRIBUTE priv_t[] = {
		{ CKA_CLASS, &priv_class, sizeof priv_class },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &no, sizeof no },
		{ CKA_PRIVATE, &yes, sizeof yes },
		{ CKA_SENSITIVE, &yes, sizeof yes },
		{ priv_use, &yes, sizeof yes },
	};
	CK_MECHANISM gen = { mech, NULL, 0 };
	CK_RV rv = p11->C_GenerateKeyPair(s, &gen, pub_t, 5, priv_t, 6, pub, priv);

	printf("%s rv=0x%lx\n", name, rv);
	return rv;
}

static void ml_dsa(CK_SESSION_HANDLE s)
{
	CK_SIGN_ADDITIONAL_CONTEXT param = { CKH_HEDGE_REQUIRED,
					     (CK_BYTE_PTR)context,
					     sizeof context - 1 };
	CK_MECHANISM sign = { CKM_ML_DSA, &param, sizeof param };
	CK_OBJECT_HANDLE pub, priv;
	CK_ULONG n = 0;
	CK_BYTE *sig;
	CK_RV rv;

	if (gen_pair(s, "mldsa-keygen", CKM_ML_DSA_KEY_PAIR_GEN, CKK_ML_DSA,
		     CKP_ML_DSA_65, CKA_VERIFY, CKA_SIGN, &pub, &priv) != CKR_OK)
		return;
	print_value("mldsa-pub", s, pub, CKA_VALUE);
	print_value("mldsa-paramset", s, pub, CKA_PARAMETER_SET);

	rv = p11->C_SignInit(s, &sign, priv);
	if (rv != CKR_OK) {
		printf("mldsa-sign rv=0x%lx\n", rv);
		return;
	}
	/* The signature's length, asked first as applications do. */
	rv = p11->C_Sign(s, (CK_BYTE_PTR)message, sizeof message - 1, NULL, &n);
	printf("mldsa-siglen %lu\n", n);
	if (rv != CKR_OK) {
		printf("mldsa-sign rv=0x%lx\n", rv);
		return;
	}
	sig = malloc(n);
	if (sig == NULL)
		return;
	rv = p11->C_Sign(s, (CK_BYTE_PTR)message, sizeof message - 1, sig, &n);
	printf("mldsa-sign rv=0x%lx\n", rv);
	if (rv == CKR_OK) {
		print_hex("mldsa-sig", sig, n);
		rv = p11->C_VerifySignatureInit(s, &sign, pub, sig, n);
		if (rv == CKR_OK)
			rv = p11->C_VerifySignature(s, (CK_BYTE_PTR)message,
						    sizeof message - 1);
		printf("mldsa-verify rv=0x%lx\n", rv);
	}
	free(sig);
}

static CK_RV decapsulate(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
			 CK_BYTE *ct, CK_ULONG n, const char *name)
{
	CK_OBJECT_CLASS class = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &class, sizeof class },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &no, sizeof no },
		{ CKA_SENSITIVE, &no, sizeof no },
		{ CKA_EXTRACTABLE, &yes, sizeof yes },
	};
	CK_MECHANISM m = { CKM_ML_KEM, NULL, 0 };
	CK_OBJECT_HANDLE key;
	CK_RV rv = p11->C_DecapsulateKey(s, &m, priv, t, 5, ct, n, &key);

	if (rv != CKR_OK) {
		printf("%s rv=0x%lx\n", name, rv);
		return rv;
	}
	print_value(name, s, key, CKA_VALUE);
	return CKR_OK;
}

static void ml_kem(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_KEY_TYPE gs = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE key_t[] = {
		{ CKA_CLASS, &secret, sizeof secret },
		{ CKA_KEY_TYPE, &gs, sizeof gs },
		{ CKA_TOKEN, &no, sizeof no },
		{ CKA_SENSITIVE, &no, sizeof no },
		{ CKA_EXTRACTABLE, &yes, sizeof yes },
	};
	CK_MECHANISM kem = { CKM_ML_KEM, NULL, 0 };
	CK_OBJECT_HANDLE pub, priv, key;
	static CK_BYTE ct[4096];
	static char line[2 * sizeof ct + 4];
	size_t n;
	CK_ULONG ctlen = 0;
	CK_RV rv;

	if (gen_pair(s, "mlkem-keygen", CKM_ML_KEM_KEY_PAIR_GEN, CKK_ML_KEM,
		     CKP_ML_KEM_768, CKA_ENCAPSULATE, CKA_DECAPSULATE, &pub,
		     &priv) != CKR_OK)
		return;
	print_value("mlkem-pub", s, pub, CKA_VALUE);
	print_value("mlkem-paramset", s, pub, CKA_PARAMETER_SET);

	/* The test encapsulates to the public key and sends the ciphertext. */
	printf("ciphertext?\n");
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL ||
	    unhex(line, ct, sizeof ct, &n) != 0) {
		printf("mlkem-input bad\n");
		return;
	}
	decapsulate(s, priv, ct, n, "mlkem-secret");

	/* And the other way: C_EncapsulateKey to the pair's public key. */
	rv = p11->C_EncapsulateKey(s, &kem, pub, key_t, 5, NULL, &ctlen, &key);
	printf("mlkem-ctlen %lu\n", ctlen);
	if (rv != CKR_OK || ctlen > sizeof ct) {
		printf("mlkem-encapsulate rv=0x%lx\n", rv);
		return;
	}
	rv = p11->C_EncapsulateKey(s, &kem, pub, key_t, 5, ct, &ctlen, &key);
	printf("mlkem-encapsulate rv=0x%lx\n", rv);
	if (rv != CKR_OK)
		return;
	print_value("mlkem-encapsulated", s, key, CKA_VALUE);
	decapsulate(s, priv, ct, ctlen, "mlkem-decapsulated");
}

int main(int argc, char **argv)
{
	CK_UTF8CHAR name[] = "PKCS 11";
	CK_VERSION v32 = { 3, 2 };
	CK_C_GetInterface get_interface;
	CK_INTERFACE_PTR iface;
	CK_SLOT_ID slots[64];
	CK_ULONG nslots = 64;
	CK_SESSION_HANDLE s;
	const char *pin = getenv("KEYHOLD_PIN");
	void *lib;
	CK_RV rv;
	int found = 0;

	if (argc != 3 || pin == NULL) {
		fprintf(stderr, "usage: pq32 LIB TOKEN (User PIN in KEYHOLD_PIN)\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "pq32: %s\n", dlerror());
		return 2;
	}
	*(void **)&get_interface = dlsym(lib, "C_GetInterface");
	if (get_interface == NULL) {
		fprintf(stderr, "pq32: no C_GetInterface\n");
		return 2;
	}
	rv = get_interface(name, &v32, &iface, 0);
	printf("interface rv=0x%lx\n", rv);
	if (rv != CKR_OK)
		return 2;
	p11 = iface->pFunctionList;
	printf("version %d.%d\n", p11->version.major, p11->version.minor);

	if ((rv = p11->C_Initialize(NULL)) != CKR_OK ||
	    (rv = p11->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK) {
		fprintf(stderr, "pq32: start: rv=0x%lx\n", rv);
		return 2;
	}
	for (CK_ULONG i = 0; i < nslots && !found; i++) {
		CK_TOKEN_INFO ti;
		size_t n = strlen(argv[2]);
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (n <= sizeof ti.label && memcmp(ti.label, argv[2], n) == 0 &&
		    (n == sizeof ti.label || ti.label[n] == ' ')) {
			found = 1;
			rv = p11->C_OpenSession(slots[i],
						CKF_SERIAL_SESSION | CKF_RW_SESSION,
						NULL, NULL, &s);
		}
	}
	if (!found || rv != CKR_OK ||
	    (rv = p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
			       strlen(pin))) != CKR_OK) {
		fprintf(stderr, "pq32: token %s: found=%d rv=0x%lx\n", argv[2],
			found, rv);
		return 2;
	}

	ml_dsa(s);
	ml_kem(s);

	p11->C_CloseSession(s);
	p11->C_Finalize(NULL);
	printf("done\n");
	return 0;
}
