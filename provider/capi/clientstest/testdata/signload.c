/*
 * signload: threads signing through a PKCS#11 library for a while, the way a
 * busy C server does, counting failures and latencies per phase. The phase
 * changes on SIGUSR1 (0 -> 1 -> 2 ...), so that a test can mark "before",
 * "during a fault" and "after" while the program runs.
 *
 * Usage: signload LIB TOKEN KEYLABEL THREADS SECONDS   (User PIN in KEYHOLD_PIN)
 *
 * Prints one line per phase:
 *   phase N ok=COUNT failed=COUNT p50_us=X p99_us=Y max_us=Z
 * and "first_failure rv=0x..." for the first failed call, if any.
 * Exit status: 0 when it ran (failures are reported, not fatal), 2 when it
 * could not start.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyhold_pkcs11.h"

/* keyhold_pkcs11.h declares what the library itself needs; these few
 * constants of the specification are the caller's. */
#ifndef CKO_PRIVATE_KEY
#define CKO_PRIVATE_KEY 0x00000003UL
#endif
#ifndef CKA_CLASS
#define CKA_CLASS 0x00000000UL
#endif
#ifndef CKA_LABEL
#define CKA_LABEL 0x00000003UL
#endif
#ifndef CKM_ECDSA
#define CKM_ECDSA 0x00001041UL
#endif
#ifndef CKU_USER
#define CKU_USER 1UL
#endif
#ifndef CKR_KEY_HANDLE_INVALID
#define CKR_KEY_HANDLE_INVALID 0x00000060UL
#endif

#define MAX_PHASES 4
#define MAX_SAMPLES 2000000
#define MAX_SLOTS 64

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static const char *key_label;
static volatile sig_atomic_t phase;
static volatile int stop;

/* Latencies in microseconds, per phase; a shared array taken under a lock is
 * enough: a lock is far cheaper than a signature through the network. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *samples[MAX_PHASES];
static long nsamples[MAX_PHASES];
static long failed[MAX_PHASES];
static CK_RV first_failure;

static void on_usr1(int sig)
{
	(void)sig;
	if (phase < MAX_PHASES - 1)
		phase++;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void record(int ph, double us, CK_RV rv)
{
	pthread_mutex_lock(&mu);
	if (rv != CKR_OK) {
		failed[ph]++;
		if (first_failure == CKR_OK)
			first_failure = rv;
	} else if (nsamples[ph] < MAX_SAMPLES) {
		samples[ph][nsamples[ph]++] = (uint32_t)us;
	}
	pthread_mutex_unlock(&mu);
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_LABEL, (void *)key_label, strlen(key_label)},
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	if (p11->C_FindObjectsInit(s, tmpl, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	p11->C_FindObjects(s, &h, 1, &n);
	p11->C_FindObjectsFinal(s);
	return n == 1 ? h : CK_INVALID_HANDLE;
}

static void *signer(void *arg)
{
	(void)arg;
	CK_SESSION_HANDLE s;
	CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		record(0, 0, rv);
		return NULL;
	}
	CK_OBJECT_HANDLE key = find_key(s);
	if (key == CK_INVALID_HANDLE) {
		record(0, 0, CKR_KEY_HANDLE_INVALID);
		return NULL;
	}
	CK_BYTE digest[32];
	CK_BYTE sig[256];
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	memset(digest, 0x5a, sizeof digest);
	while (!stop) {
		int ph = phase;
		double start = now_us();
		CK_ULONG siglen = sizeof sig;
		rv = p11->C_SignInit(s, &mech, key);
		if (rv == CKR_OK)
			rv = p11->C_Sign(s, digest, sizeof digest, sig, &siglen);
		record(ph, now_us() - start, rv);
	}
	p11->C_CloseSession(s);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: signload LIB TOKEN KEYLABEL THREADS SECONDS\n");
		return 2;
	}
	const char *pin = getenv("KEYHOLD_PIN");
	if (pin == NULL) {
		fprintf(stderr, "signload: KEYHOLD_PIN is not set\n");
		return 2;
	}
	key_label = argv[3];
	int threads = atoi(argv[4]);
	int seconds = atoi(argv[5]);
	if (threads < 1 || threads > 256 || seconds < 1) {
		fprintf(stderr, "signload: bad THREADS or SECONDS\n");
		return 2;
	}
	for (int i = 0; i < MAX_PHASES; i++) {
		samples[i] = malloc(sizeof(uint32_t) * MAX_SAMPLES);
		if (samples[i] == NULL)
			return 2;
	}
	signal(SIGUSR1, on_usr1);

	void *lib = dlopen(argv[1], RTLD_NOW);
	if (lib == NULL) {
		fprintf(stderr, "signload: %s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList getlist = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	if (getlist == NULL || getlist(&p11) != CKR_OK) {
		fprintf(stderr, "signload: no function list\n");
		return 2;
	}
	CK_C_INITIALIZE_ARGS args = {0};
	args.flags = CKF_OS_LOCKING_OK;
	if (p11->C_Initialize(&args) != CKR_OK) {
		fprintf(stderr, "signload: C_Initialize failed\n");
		return 2;
	}
	CK_SLOT_ID slots[MAX_SLOTS];
	CK_ULONG nslots = MAX_SLOTS;
	if (p11->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK) {
		fprintf(stderr, "signload: C_GetSlotList failed\n");
		return 2;
	}
	int found = 0;
	for (CK_ULONG i = 0; i < nslots && !found; i++) {
		CK_TOKEN_INFO ti;
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		size_t n = strlen(argv[2]);
		if (n <= sizeof ti.label && memcmp(ti.label, argv[2], n) == 0 &&
		    (n == sizeof ti.label || ti.label[n] == ' ')) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "signload: no token %s\n", argv[2]);
		return 2;
	}
	CK_SESSION_HANDLE s;
	if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
	    p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK) {
		fprintf(stderr, "signload: login failed\n");
		return 2;
	}
	/* The login session stays open: closing an application's last session
	 * logs it out. */
	printf("ready\n");
	fflush(stdout);

	pthread_t *tids = calloc(threads, sizeof *tids);
	for (int i = 0; i < threads; i++)
		pthread_create(&tids[i], NULL, signer, NULL);
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) != 0)
		; /* interrupted by SIGUSR1: keep waiting */
	stop = 1;
	for (int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);

	for (int ph = 0; ph <= phase; ph++) {
		long n = nsamples[ph];
		qsort(samples[ph], n, sizeof(uint32_t), cmp_u32);
		uint32_t p50 = n ? samples[ph][n / 2] : 0;
		uint32_t p99 = n ? samples[ph][(n * 99) / 100] : 0;
		uint32_t max = n ? samples[ph][n - 1] : 0;
		printf("phase %d ok=%ld failed=%ld p50_us=%u p99_us=%u max_us=%u\n", ph, n, failed[ph], p50, p99, max);
	}
	if (first_failure != CKR_OK)
		printf("first_failure rv=0x%lx\n", first_failure);
	p11->C_CloseSession(s);
	p11->C_Finalize(NULL);
	return 0;
}
