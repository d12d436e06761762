package jcyme.api;

/** Every error a jcyme service answers with: {@code {"error": "<one clear sentence>"}}. */
public record ErrorBody(String error) {}
