import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.util.Base64;
import java.util.Collections;

/**
 * Lists a PKCS#11 token's key entries through SunPKCS11 and signs with one of
 * them: PKCS11Sign CONFIG ALIAS. The User PIN comes from KEYHOLD_TEST_PIN.
 * Prints "alias NAME" for each entry, then "signature BASE64" of MESSAGE,
 * made with SHA256withECDSA (DER, as Java encodes it).
 */
public class PKCS11Sign {
    static final byte[] MESSAGE = "signed through SunPKCS11".getBytes(StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, System.getenv("KEYHOLD_TEST_PIN").toCharArray());
        for (String alias : Collections.list(ks.aliases())) {
            System.out.println("alias " + alias);
        }
        PrivateKey key = (PrivateKey) ks.getKey(args[1], null);
        if (key == null) {
            throw new IllegalStateException("no private key " + args[1]);
        }
        Signature s = Signature.getInstance("SHA256withECDSA", p);
        s.initSign(key);
        s.update(MESSAGE);
        System.out.println("signature " + Base64.getEncoder().encodeToString(s.sign()));
    }
}
