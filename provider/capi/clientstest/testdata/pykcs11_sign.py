"""Drive a PKCS#11 module through PyKCS11 and print what the Go test checks.

Usage: pykcs11_sign.py MODULE TOKEN_LABEL

The User PIN comes from the environment (KEYHOLD_TEST_PIN), never from the
command line. The result is one JSON object on stdout; hex strings carry
bytes so that the Go side can verify the signatures on its own.
"""

import hashlib
import json
import os
import sys

import PyKCS11
from PyKCS11 import LowLevel

# DER of the OID of P-256 (prime256v1), the CKA_EC_PARAMS of a new EC key.
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
EC_LABEL = "pykcs11-ec"
RSA_LABEL = "pykcs11-rsa"
MESSAGE = b"signed through PyKCS11"


def find_one(session, cls, label):
    found = session.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_LABEL, label)])
    if len(found) > 1:
        raise SystemExit("%d objects labelled %s" % (len(found), label))
    return found[0] if found else None


def ec_key(session):
    # Finding before generating lets the test run the script twice against
    # one partition and see the key it made the first time.
    priv = find_one(session, PyKCS11.CKO_PRIVATE_KEY, EC_LABEL)
    pub = find_one(session, PyKCS11.CKO_PUBLIC_KEY, EC_LABEL)
    generated = False
    if priv is None or pub is None:
        key_id = os.urandom(8)
        pub, priv = session.generateKeyPair(
            [
                (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
                (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                (PyKCS11.CKA_TOKEN, True),
                (PyKCS11.CKA_VERIFY, True),
                (PyKCS11.CKA_LABEL, EC_LABEL),
                (PyKCS11.CKA_ID, key_id),
                (PyKCS11.CKA_EC_PARAMS, P256_PARAMS),
            ],
            [
                (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                (PyKCS11.CKA_TOKEN, True),
                (PyKCS11.CKA_PRIVATE, True),
                (PyKCS11.CKA_SENSITIVE, True),
                (PyKCS11.CKA_SIGN, True),
                (PyKCS11.CKA_LABEL, EC_LABEL),
                (PyKCS11.CKA_ID, key_id),
            ],
            PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN),
        )
        generated = True
    return pub, priv, generated


def rsa_key(session):
    priv = find_one(session, PyKCS11.CKO_PRIVATE_KEY, RSA_LABEL)
    pub = find_one(session, PyKCS11.CKO_PUBLIC_KEY, RSA_LABEL)
    if priv is not None and pub is not None:
        return pub, priv
    key_id = os.urandom(8)
    return session.generateKeyPair(
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
            (PyKCS11.CKA_TOKEN, True),
            (PyKCS11.CKA_VERIFY, True),
            (PyKCS11.CKA_LABEL, RSA_LABEL),
            (PyKCS11.CKA_ID, key_id),
            (PyKCS11.CKA_MODULUS_BITS, 2048),
            (PyKCS11.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)),
        ],
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
            (PyKCS11.CKA_TOKEN, True),
            (PyKCS11.CKA_PRIVATE, True),
            (PyKCS11.CKA_SENSITIVE, True),
            (PyKCS11.CKA_SIGN, True),
            (PyKCS11.CKA_LABEL, RSA_LABEL),
            (PyKCS11.CKA_ID, key_id),
        ],
        PyKCS11.Mechanism(PyKCS11.CKM_RSA_PKCS_KEY_PAIR_GEN),
    )


def flipped(sig):
    bad = bytearray(sig)
    bad[len(bad) // 2] ^= 0x01
    return bytes(bad)


def main():
    module, token = sys.argv[1], sys.argv[2]
    pin = os.environ["KEYHOLD_TEST_PIN"]

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = []
    chosen = None
    for slot in lib.getSlotList(tokenPresent=True):
        label = lib.getTokenInfo(slot).label.strip()
        slots.append({"id": slot, "label": label})
        if label == token:
            chosen = slot
    if chosen is None:
        raise SystemExit("no token labelled %s" % token)

    session = lib.openSession(chosen, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(pin)
    out = {"slots": slots}

    ec_pub, ec_priv, generated = ec_key(session)
    # CKM_ECDSA signs a digest: the caller hashes, as OpenSSL and GnuTLS do.
    digest = hashlib.sha256(MESSAGE).digest()
    mech = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA)
    ec_sig = bytes(session.sign(ec_priv, digest, mech))
    point = bytes(session.getAttributeValue(ec_pub, [PyKCS11.CKA_EC_POINT], allAsBinary=True)[0])
    out["ec"] = {
        "generated": generated,
        "point": point.hex(),
        "signature": ec_sig.hex(),
        "verified": session.verify(ec_pub, digest, ec_sig, mech),
        "tampered_verified": session.verify(ec_pub, digest, flipped(ec_sig), mech),
    }

    rsa_pub, rsa_priv = rsa_key(session)
    mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
    rsa_sig = bytes(session.sign(rsa_priv, MESSAGE, mech))
    modulus, exponent = session.getAttributeValue(
        rsa_pub, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT], allAsBinary=True
    )
    out["rsa"] = {
        "modulus": bytes(modulus).hex(),
        "exponent": bytes(exponent).hex(),
        "signature": rsa_sig.hex(),
        "verified": session.verify(rsa_pub, MESSAGE, rsa_sig, mech),
        "tampered_verified": session.verify(rsa_pub, MESSAGE, flipped(rsa_sig), mech),
    }
    out["message"] = MESSAGE.hex()

    session.logout()
    session.closeSession()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
