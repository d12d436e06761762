package jcyme.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;

/**
 * A page of a branch's kept events, oldest first.
 *
 * @param next  the {@code since} that asks for the events after this page
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record EventPage(List<Event> events, long next) {}
