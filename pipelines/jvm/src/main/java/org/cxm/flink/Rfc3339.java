package org.cxm.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

import java.time.DateTimeException;
import java.time.LocalDate;

/**
 * {@code CXM_RFC3339(text)}: a UTC timestamp written exactly as {@code yyyy-MM-ddTHH:mm:ss.SSSZ} (the events'
 * {@code event_time} contract) as TIMESTAMP(3), or NULL when the text has another shape or names no real
 * instant (Feb 30, hour 24, ...). Strict where Flink's TO_TIMESTAMP is lenient (it moves Feb 30 to Mar 2), and
 * without a DateTimeFormatter per call. Reads the internal string's UTF-8 bytes (the shape is pure ASCII).
 */
public class Rfc3339 extends ScalarFunction {

    public @DataTypeHint(value = "TIMESTAMP(3)", bridgedTo = TimestampData.class) TimestampData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData text) {
        if (text == null) {
            return null;
        }
        byte[] s = text.toBytes();
        if (s.length != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':'
                || s[19] != '.' || s[23] != 'Z') {
            return null;
        }
        int year = digits(s, 0, 4);
        int month = digits(s, 5, 2);
        int day = digits(s, 8, 2);
        int hour = digits(s, 11, 2);
        int minute = digits(s, 14, 2);
        int second = digits(s, 17, 2);
        int milli = digits(s, 20, 3);
        if (year < 0 || month < 0 || day < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0
                || second > 59 || milli < 0) {
            return null;
        }
        long epochDay;
        try {
            epochDay = LocalDate.of(year, month, day).toEpochDay();
        } catch (DateTimeException e) {
            return null;
        }
        return TimestampData.fromEpochMillis(
                epochDay * 86_400_000L + hour * 3_600_000L + minute * 60_000L + second * 1_000L + milli);
    }

    /** The non-negative number written by {@code len} ASCII digits at {@code from}, or -1. */
    private static int digits(byte[] s, int from, int len) {
        int v = 0;
        for (int i = from; i < from + len; i++) {
            byte c = s[i];
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }
}
