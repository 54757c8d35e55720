import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts Amazon's DynamoDB Local listening on loopback only.
 *
 * DynamoDB Local has no option for the address it binds: its DynamoDBProxyServer builds a Jetty
 * Server(port), whose connector listens on every interface. This launcher lets DynamoDB Local parse
 * its usual command line and build that server, sets the connector's host to 127.0.0.1 before
 * anything listens, then starts it. Run with Java's source-file mode (JEP 330), with
 * DynamoDBLocal.jar and DynamoDBLocal_lib/* on the class path:
 *
 *   java -cp 'DynamoDBLocal.jar:DynamoDBLocal_lib/*' LoopbackDynamoDbLocal.java -port 8000 -inMemory
 *
 * Telemetry is never configured, so nothing is sent anywhere (pass -disableTelemetry as well).
 */
public final class LoopbackDynamoDbLocal {
    private static final String HOST = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server jetty = (Server) field.get(proxy);
        int bound = 0;
        for (Connector connector : jetty.getConnectors()) {
            if (!(connector instanceof ServerConnector)) {
                throw new IllegalStateException("unexpected Jetty connector " + connector.getClass().getName());
            }
            ((ServerConnector) connector).setHost(HOST);
            bound++;
        }
        if (bound == 0) throw new IllegalStateException("DynamoDB Local's Jetty server has no connector to bind");
        // safeStart: Jetty's start, which throws if the port cannot be bound (start() only prints).
        proxy.safeStart();
        System.out.println("DynamoDB Local listening on " + HOST + " only");
        proxy.join();
    }
}
