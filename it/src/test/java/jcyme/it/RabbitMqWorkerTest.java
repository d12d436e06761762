package jcyme.it;

/** The worker contract against RabbitMQ (started by bin/test). */
class RabbitMqWorkerTest extends WorkerContract {
    @Override
    TestBroker broker() {
        return TestBroker.rabbitmq();
    }
}
