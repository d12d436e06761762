package jcyme.branch;

/** One queue on its broker now: messages ready for a consumer, and consumers. */
public record QueueDepth(String queue, long messages, long consumers) {}
