/*
 * forkcheck: a process that loads libkeyhold.so and then forks must get a
 * clear refusal in the child, never a hang, and keep a working library in the
 * parent.
 *
 * Usage: forkcheck /path/to/libkeyhold.so   (with KEYHOLD_CONF set)
 *
 * Exit status: 0 when the child was refused as expected and the parent still
 * works, 1 when a check failed, 2 when the test could not run.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keyhold_pkcs11.h"

/* The child gives up after this many seconds: a hang ends as SIGALRM. */
#define CHILD_ALARM_SECONDS 10

/* The parent stops waiting for the child after this many seconds. */
#define CHILD_WAIT_SECONDS 20

#define MAX_SLOTS 64

static CK_FUNCTION_LIST_PTR p11;
/* The same library's v3.2 function list. */
static CK_FUNCTION_LIST_3_2_PTR p11_32;

static int expect_rv(const char *who, const char *call, CK_RV rv, CK_RV want)
{
	printf("%s: %s = 0x%lx\n", who, call, rv);
	if (rv != want) {
		printf("%s: %s: want 0x%lx\n", who, call, want);
		return 0;
	}
	return 1;
}

/* Lists the slots with a token; returns their number, or -1. */
static long list_slots(const char *who, CK_SLOT_ID_PTR slots)
{
	CK_ULONG count = MAX_SLOTS;
	CK_RV rv = p11->C_GetSlotList(CK_TRUE, slots, &count);

	if (!expect_rv(who, "C_GetSlotList", rv, CKR_OK))
		return -1;
	printf("%s: %lu slot(s)\n", who, count);
	return (long)count;
}

/*
 * Runs in the forked child. A child of a multithreaded process may in general
 * call only async-signal-safe functions; stdio is safe here all the same,
 * because the only other threads, the library's, never use this program's
 * stdio and so cannot have held its locks at the fork.
 */
static int child(CK_SLOT_ID slot)
{
	CK_FUNCTION_LIST_PTR list = NULL_PTR;
	CK_SLOT_ID slots[MAX_SLOTS];
	CK_ULONG count = MAX_SLOTS;
	CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
	CK_INFO info;
	CK_C_GetFunctionList get_function_list;
	int ok = 1;

	alarm(CHILD_ALARM_SECONDS);

	ok &= expect_rv("child", "C_GetSlotList",
			p11->C_GetSlotList(CK_TRUE, slots, &count),
			CKR_CRYPTOKI_NOT_INITIALIZED);
	ok &= expect_rv("child", "C_OpenSession",
			p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL_PTR,
					   NULL_PTR, &session),
			CKR_CRYPTOKI_NOT_INITIALIZED);
	ok &= expect_rv("child", "C_GetInfo", p11->C_GetInfo(&info),
			CKR_CRYPTOKI_NOT_INITIALIZED);
	ok &= expect_rv("child", "C_Initialize", p11->C_Initialize(NULL_PTR),
			CKR_GENERAL_ERROR);
	ok &= expect_rv("child", "C_FindObjectsInit",
			p11->C_FindObjectsInit(session, NULL_PTR, 0),
			CKR_CRYPTOKI_NOT_INITIALIZED);
	/* The v3.2 functions: implemented in Go, and not implemented. */
	ok &= expect_rv("child", "C_VerifySignature",
			p11_32->C_VerifySignature(session, NULL_PTR, 0),
			CKR_CRYPTOKI_NOT_INITIALIZED);
	ok &= expect_rv("child", "C_DecapsulateKey",
			p11_32->C_DecapsulateKey(session, NULL_PTR, 1, NULL_PTR,
						 0, NULL_PTR, 0, NULL_PTR),
			CKR_CRYPTOKI_NOT_INITIALIZED);
	ok &= expect_rv("child", "C_AsyncGetID",
			p11_32->C_AsyncGetID(session, NULL_PTR, NULL_PTR),
			CKR_CRYPTOKI_NOT_INITIALIZED);

	/* The function list is plain data and stays available. */
	get_function_list = p11->C_GetFunctionList;
	ok &= expect_rv("child", "C_GetFunctionList", get_function_list(&list),
			CKR_OK);
	if (list != p11) {
		printf("child: C_GetFunctionList returned another list\n");
		ok = 0;
	}

	printf("child: %s\n", ok ? "all calls refused" : "FAILED");
	return ok ? 0 : 1;
}

/* Waits for the child for a bounded time; returns its exit status or 1. */
static int wait_child(pid_t pid)
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };
	int status;
	int ticks;

	for (ticks = 0; ticks < CHILD_WAIT_SECONDS * 20; ticks++) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid) {
			if (WIFEXITED(status))
				return WEXITSTATUS(status) == 0 ? 0 : 1;
			if (WIFSIGNALED(status))
				printf("parent: child killed by signal %d%s\n",
				       WTERMSIG(status),
				       WTERMSIG(status) == SIGALRM ?
					       " (SIGALRM: a call hung)" :
					       "");
			return 1;
		}
		if (got < 0 && errno != EINTR) {
			perror("waitpid");
			return 1;
		}
		nanosleep(&tick, NULL);
	}
	printf("parent: child still running after %d s; killing it\n",
	       CHILD_WAIT_SECONDS);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 1;
}

int main(int argc, char **argv)
{
	void *lib;
	CK_C_GetFunctionList get_function_list;
	CK_C_GetInterface get_interface;
	CK_UTF8CHAR interface_name[] = "PKCS 11";
	CK_VERSION v32 = { 3, 2 };
	CK_INTERFACE_PTR iface;
	CK_SLOT_ID slots[MAX_SLOTS];
	long nslots;
	pid_t pid;
	int verdict;

	if (argc != 2) {
		fprintf(stderr, "usage: %s libkeyhold.so\n", argv[0]);
		return 2;
	}
	/* Unbuffered, so that the child's lines are never lost or doubled. */
	setvbuf(stdout, NULL, _IONBF, 0);

	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
		return 2;
	}
	get_function_list = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	if (get_function_list == NULL) {
		fprintf(stderr, "dlsym C_GetFunctionList: %s\n", dlerror());
		return 2;
	}
	if (!expect_rv("parent", "C_GetFunctionList",
		       get_function_list(&p11), CKR_OK))
		return 2;
	get_interface = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
	if (get_interface == NULL ||
	    !expect_rv("parent", "C_GetInterface(3.2)",
		       get_interface(interface_name, &v32, &iface, 0), CKR_OK))
		return 2;
	p11_32 = iface->pFunctionList;

	if (!expect_rv("parent", "C_Initialize", p11->C_Initialize(NULL_PTR),
		       CKR_OK))
		return 2;
	nslots = list_slots("parent", slots);
	if (nslots < 1) {
		printf("parent: need at least one slot (is KEYHOLD_CONF set?)\n");
		return 2;
	}

	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0)
		_exit(child(slots[0]));

	verdict = wait_child(pid);

	/* The parent's library is untouched by the child. */
	if (list_slots("parent", slots) != nslots) {
		printf("parent: slot list changed after the fork\n");
		verdict = 1;
	}
	if (!expect_rv("parent", "C_Finalize", p11->C_Finalize(NULL_PTR),
		       CKR_OK))
		verdict = 1;

	printf("%s\n", verdict == 0 ? "PASS" : "FAIL");
	return verdict;
}
