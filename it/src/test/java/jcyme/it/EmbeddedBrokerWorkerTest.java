package jcyme.it;

/** The worker contract against the embedded broker. */
class EmbeddedBrokerWorkerTest extends WorkerContract {
    @Override
    TestBroker broker() throws Exception {
        return TestBroker.embedded();
    }
}
