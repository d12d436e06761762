package jcyme.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The task search's grammar: qualifiers, quoting, implicit AND, and a 400 naming what is wrong. */
class TaskQueryTest {

    @Test
    void qualifiersAndPlainWordsAreSortedOut() {
        TaskQuery q = TaskQuery.parse("state:FAILURE,retry name:tasks.add  worker:w1 args:2,3 kwargs:x=1 result:5 hello");
        assertEquals(List.of("FAILURE", "RETRY"), q.states());
        assertEquals(List.of("tasks.add"), q.names());
        assertEquals(List.of("w1"), q.workers());
        assertEquals(List.of("2", "3"), q.args());
        assertEquals(List.of("x=1"), q.kwargs());
        assertEquals(List.of("5"), q.results());
        assertEquals(List.of("hello"), q.words());
    }

    @Test
    void quotesKeepSpacesAndColons() {
        TaskQuery q = TaskQuery.parse("name:\"my task\" \"a:b c\" result:'x'");
        assertEquals(List.of("my task"), q.names());
        assertEquals(List.of("a:b c"), q.words());
        assertEquals(List.of("'x'"), q.results());
    }

    @Test
    void blankMatchesEverything() {
        assertEquals(TaskQuery.ALL, TaskQuery.parse(null));
        assertEquals(TaskQuery.ALL, TaskQuery.parse("   "));
    }

    @Test
    void malformedSearchesAreRefusedWithTheReason() {
        assertRefused("color:red", "unknown qualifier 'color:'");
        assertRefused("state:DONE", "unknown state 'DONE'");
        assertRefused("state:", "'state:' needs a value");
        assertRefused("name:\"open", "is not closed");
        assertRefused("http://x", "quote a word with a colon");
        assertRefused("10:30", "no known qualifier");
    }

    @Test
    void likePatternsTakePercentAndUnderscoreLiterally() {
        assertEquals("%50\\%\\_x\\\\%", TaskQuery.contains("50%_x\\"));
    }

    @Test
    void conditionsBecomeParameterisedSql() {
        StringBuilder where = new StringBuilder("app = ?");
        List<Object> params = new java.util.ArrayList<>(List.of("a"));
        TaskQuery.parse("state:SUCCESS kwargs:n=2 word").appendTo(where, params);
        assertTrue(where.toString().contains("state IN (?)"), where.toString());
        assertEquals(List.of("a", "SUCCESS", "%'n': 2%", "%'n': '2'%", "%word%", "%word%", "%word%", "%word%", "%word%"), params);
    }

    private static void assertRefused(String q, String reason) {
        BranchException e = assertThrows(BranchException.class, () -> TaskQuery.parse(q));
        assertEquals(400, e.status());
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }
}
