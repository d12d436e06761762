package jcyme.bench;

/** The floor: a JVM that reaches main, says so, and idles. */
public final class BareJvm {
    private BareJvm() {}

    public static void main(String[] args) throws InterruptedException {
        System.out.println("main");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
