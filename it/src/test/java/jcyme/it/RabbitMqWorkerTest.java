package jcyme.it;

import org.junit.jupiter.api.parallel.Isolated;

/** The worker contract against RabbitMQ (started by bin/test); alone, since it restarts that RabbitMQ. */
@Isolated
class RabbitMqWorkerTest extends WorkerContract {
    @Override
    TestBroker broker() {
        return TestBroker.rabbitmq();
    }
}
