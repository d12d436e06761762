package jcyme.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** A queue declaration: exchange and routing key default to the name, the exchange type to direct. */
public record QueueSpec(
        String name,
        String exchange,
        @JsonProperty("exchange_type") String exchangeType,
        @JsonProperty("routing_key") String routingKey) {

    public QueueSpec {
        exchange = exchange == null ? name : exchange;
        exchangeType = exchangeType == null ? "direct" : exchangeType;
        routingKey = routingKey == null ? name : routingKey;
    }
}
