package org.cxm.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

import java.time.DateTimeException;
import java.time.LocalDate;
import java.time.LocalDateTime;

/**
 * {@code CXM_RFC3339(text)}: a UTC timestamp written exactly as {@code yyyy-MM-ddTHH:mm:ss.SSSZ} (the events'
 * {@code event_time} contract) as TIMESTAMP(3), or NULL when the text has another shape or names no real
 * instant (Feb 30, hour 24, ...). Strict where Flink's TO_TIMESTAMP is lenient (it moves Feb 30 to Mar 2), and
 * without a DateTimeFormatter per call.
 */
public class Rfc3339 extends ScalarFunction {

    public @DataTypeHint("TIMESTAMP(3)") LocalDateTime eval(String s) {
        if (s == null || s.length() != 24 || s.charAt(4) != '-' || s.charAt(7) != '-' || s.charAt(10) != 'T'
                || s.charAt(13) != ':' || s.charAt(16) != ':' || s.charAt(19) != '.' || s.charAt(23) != 'Z') {
            return null;
        }
        int year = digits(s, 0, 4);
        int month = digits(s, 5, 2);
        int day = digits(s, 8, 2);
        int hour = digits(s, 11, 2);
        int minute = digits(s, 14, 2);
        int second = digits(s, 17, 2);
        int milli = digits(s, 20, 3);
        if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || milli < 0) {
            return null;
        }
        try {
            return LocalDateTime.of(LocalDate.of(year, month, day),
                    java.time.LocalTime.of(hour, minute, second, milli * 1_000_000));
        } catch (DateTimeException e) {
            return null;
        }
    }

    /** The non-negative number written by {@code len} ASCII digits at {@code from}, or -1. */
    private static int digits(String s, int from, int len) {
        int v = 0;
        for (int i = from; i < from + len; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }
}
