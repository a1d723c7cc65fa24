// A JVM that does what ServiceNow's does with a mutual-auth protocol profile: load the
// uploaded JKS with its password (the key password is the store password), offer that key
// as the client identity, trust the third party's certificate, and make one HTTPS GET.
//
// Usage: java MtlsClient.java <keystore.jks|.p12> <password> <truststore.jks|trust.pem> <url>
// Exit codes: 0 = HTTP 200, 1 = another HTTP status, 2 = the TLS/HTTP exchange failed,
// 3 = the keystore could not be loaded, 64 = usage.
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class MtlsClient {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: java MtlsClient.java <keystore> <password> <trust> <url>");
            System.exit(64);
        }
        char[] password = args[1].toCharArray();
        KeyManagerFactory keys;
        try {
            // a .p12 is opened as what it is, not through JKS's compatibility mode
            KeyStore store = KeyStore.getInstance(args[0].endsWith(".p12") ? "PKCS12" : "JKS");
            try (InputStream in = Files.newInputStream(Path.of(args[0]))) {
                store.load(in, password);
            }
            keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(store, password);
        } catch (IOException | GeneralSecurityException e) {
            System.out.println("KEYSTORE " + e);
            System.exit(3);
            return;
        }
        TrustManagerFactory trust =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(trustStore(args[2], password));
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keys.getKeyManagers(), trust.getTrustManagers(), null);
        HttpsURLConnection connection = (HttpsURLConnection) new URL(args[3]).openConnection();
        connection.setSSLSocketFactory(context.getSocketFactory());
        connection.setConnectTimeout(5000);
        connection.setReadTimeout(5000);
        try {
            int status = connection.getResponseCode();
            String body = new String(
                connection.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            System.out.println(status + " " + connection.getCipherSuite() + " " + body);
            System.exit(status == 200 ? 0 : 1);
        } catch (IOException e) {
            System.out.println("FAILED " + e);
            System.exit(2);
        }
    }

    private static KeyStore trustStore(String path, char[] password) throws Exception {
        if (!path.endsWith(".pem")) {
            KeyStore store = KeyStore.getInstance("JKS");
            try (InputStream in = Files.newInputStream(Path.of(path))) {
                store.load(in, password);
            }
            return store;
        }
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        int n = 0;
        try (InputStream in = Files.newInputStream(Path.of(path))) {
            for (Certificate cert : factory.generateCertificates(in)) {
                store.setCertificateEntry("trusted-" + n++, cert);
            }
        }
        return store;
    }
}
