package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;

/** A queue declaration: exchange and routing key default to the name, the exchange type to direct. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record QueueSpec(
        String name,
        String exchange,
        @JsonProperty("exchange_type") String exchangeType,
        @JsonProperty("routing_key") String routingKey,
        Map<String, Object> options) {

    public QueueSpec {
        exchange = exchange == null || exchange.isEmpty() ? name : exchange;
        exchangeType = exchangeType == null || exchangeType.isEmpty() ? "direct" : exchangeType;
        routingKey = routingKey == null || routingKey.isEmpty() ? name : routingKey;
        options = options == null ? Map.of() : Map.copyOf(options);
    }

    public static QueueSpec named(String name) {
        return new QueueSpec(name, null, null, null, null);
    }
}
