import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.Base64;
import java.util.Collections;
import sun.security.pkcs11.wrapper.CK_ATTRIBUTE;
import sun.security.pkcs11.wrapper.CK_MECHANISM;
import sun.security.pkcs11.wrapper.CK_RSA_PKCS_OAEP_PARAMS;
import sun.security.pkcs11.wrapper.PKCS11;
import sun.security.pkcs11.wrapper.PKCS11Constants;

/**
 * Uses the keys keytool made on a PKCS#11 token:
 * KeytoolKeys CONFIG LIBRARY EC_ALIAS RSA_ALIAS CIPHERTEXT. The User PIN
 * comes from KEYHOLD_TEST_PIN. Prints "alias NAME" for each key entry, then
 * "signature ALGORITHM BASE64" of MESSAGE for SHA256withECDSA with EC_ALIAS
 * and SHA256withRSA and RSASSA-PSS (SHA-256, MGF1 with SHA-256, 32-byte
 * salt) with RSA_ALIAS, and "plaintext BASE64" of CIPHERTEXT (base64)
 * decrypted with RSA_ALIAS by CKM_RSA_PKCS_OAEP (SHA-256, MGF1 with
 * SHA-256, no label).
 *
 * SunPKCS11 of Java 17 has no OAEP Cipher, so the decryption goes through
 * the JDK's own PKCS#11 binding (sun.security.pkcs11.wrapper), which the
 * provider uses underneath: run with
 * --add-exports jdk.crypto.cryptoki/sun.security.pkcs11.wrapper=ALL-UNNAMED.
 */
public class KeytoolKeys {
    static final byte[] MESSAGE = "signed through SunPKCS11".getBytes(StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, System.getenv("KEYHOLD_TEST_PIN").toCharArray());
        for (String alias : Collections.list(ks.aliases())) {
            System.out.println("alias " + alias);
        }
        sign(p, key(ks, args[2]), "SHA256withECDSA", null);
        PrivateKey rsa = key(ks, args[3]);
        sign(p, rsa, "SHA256withRSA", null);
        sign(p, rsa, "RSASSA-PSS", new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
        byte[] plain = decryptOAEP(args[1], args[3], Base64.getDecoder().decode(args[4]));
        System.out.println("plaintext " + Base64.getEncoder().encodeToString(plain));
    }

    static PrivateKey key(KeyStore ks, String alias) throws Exception {
        PrivateKey key = (PrivateKey) ks.getKey(alias, null);
        if (key == null) {
            throw new IllegalStateException("no private key " + alias);
        }
        return key;
    }

    static void sign(Provider p, PrivateKey key, String alg, PSSParameterSpec params) throws Exception {
        Signature s = Signature.getInstance(alg, p);
        if (params != null) {
            s.setParameter(params);
        }
        s.initSign(key);
        s.update(MESSAGE);
        System.out.println("signature " + alg + " " + Base64.getEncoder().encodeToString(s.sign()));
    }

    // decryptOAEP finds the private key of a keystore entry as SunPKCS11
    // stores it (CKA_ID is the alias) and decrypts in a session of its own.
    // The KeyStore's login holds for it: PKCS#11 login state belongs to the
    // application.
    static byte[] decryptOAEP(String library, String alias, byte[] ciphertext) throws Exception {
        PKCS11 p11 = PKCS11.getInstance(library, "C_GetFunctionList", null, false);
        long slot = p11.C_GetSlotList(true)[0];
        long session = p11.C_OpenSession(slot, PKCS11Constants.CKF_SERIAL_SESSION, null, null);
        p11.C_FindObjectsInit(session, new CK_ATTRIBUTE[] {
            new CK_ATTRIBUTE(PKCS11Constants.CKA_CLASS, PKCS11Constants.CKO_PRIVATE_KEY),
            new CK_ATTRIBUTE(PKCS11Constants.CKA_ID, alias.getBytes(StandardCharsets.UTF_8)),
        });
        long[] found = p11.C_FindObjects(session, 2);
        p11.C_FindObjectsFinal(session);
        if (found.length != 1) {
            throw new IllegalStateException(found.length + " private keys with CKA_ID " + alias);
        }
        CK_RSA_PKCS_OAEP_PARAMS oaep = new CK_RSA_PKCS_OAEP_PARAMS();
        oaep.hashAlg = PKCS11Constants.CKM_SHA256;
        oaep.mgf = PKCS11Constants.CKG_MGF1_SHA256;
        oaep.source = PKCS11Constants.CKZ_DATA_SPECIFIED;
        CK_MECHANISM mech = new CK_MECHANISM(PKCS11Constants.CKM_RSA_PKCS_OAEP);
        mech.pParameter = oaep;
        p11.C_DecryptInit(session, mech, found[0]);
        byte[] out = new byte[ciphertext.length];
        int n = p11.C_Decrypt(session, 0, ciphertext, 0, ciphertext.length, 0, out, 0, out.length);
        p11.C_CloseSession(session);
        return java.util.Arrays.copyOf(out, n);
    }
}
