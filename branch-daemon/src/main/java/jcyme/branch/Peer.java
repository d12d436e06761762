package jcyme.branch;

/** Another live branch of the cluster, with the URL its HTTP API answers on. */
public record Peer(String id, String url) {}
