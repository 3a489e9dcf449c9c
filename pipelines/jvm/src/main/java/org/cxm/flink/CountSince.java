package org.cxm.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * {@code CXM_COUNT_SINCE(ms, span_ms, cond)} OVER a RANGE window ordered by event time: how many rows of the
 * window with {@code cond} true lie within {@code span_ms} of the current row ({@code ms >= current - span_ms}),
 * for a span shorter than the window's. One 7-day window then gives the 24-hour and 1-hour counts too, where
 * Flink SQL needs one OVER operator (and one keyed shuffle) per window range.
 *
 * <p>Flink processes an event-time OVER window in timestamp order: it retracts the rows that left the range,
 * then accumulates the rows of the current timestamp, then reads the value. The accumulator keeps the event
 * times of the counted rows in order; a retraction always removes the oldest ones, so it drops the first.
 *
 * <p>Rows older than the span are also dropped as newer ones arrive, so the function works over an UNBOUNDED
 * window too (no retractions at all: Flink's unbounded OVER operator is much cheaper than a RANGE one, which
 * scans the customer's buffered rows on every timestamp to find those that left the range). A retraction of a
 * row dropped that way only counts it off. The accumulator is a RAW type: the heap state keeps the object itself,
 * without converting it to Flink's row format on every access; {@link CountSinceAccSerializer} writes it to
 * checkpoints and copies it.
 */
@FunctionHint(accumulator = @DataTypeHint(value = "RAW", bridgedTo = CountSince.Acc.class,
        rawSerializer = CountSinceAccSerializer.class))
public class CountSince extends AggregateFunction<Long, CountSince.Acc> {

    /** Event times (ascending) of the counted rows in {@code ts[start, end)}, the newest row's time, the span. */
    public static class Acc {
        public long[] ts = new long[8];
        public int start = 0;
        public int end = 0;
        public long last = Long.MIN_VALUE;
        public long span = 0L;
        /** Rows dropped for age that no retraction has counted off yet. */
        public long evicted = 0L;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    public void accumulate(Acc acc, Long ms, Long spanMs, Boolean cond) {
        if (ms == null) {
            return;
        }
        if (ms > acc.last) {
            acc.last = ms;
        }
        if (spanMs != null) {
            acc.span = spanMs;
        }
        long from = acc.last - acc.span;
        while (acc.start < acc.end && acc.ts[acc.start] < from) {  // out of the span for good (time only grows)
            acc.start++;
            acc.evicted++;
        }
        if (acc.start == acc.end) {
            acc.start = 0;
            acc.end = 0;
        }
        if (cond == null || !cond) {
            return;
        }
        if (acc.end == acc.ts.length) {
            int live = acc.end - acc.start;
            long[] next = live * 2 < acc.ts.length ? acc.ts : new long[Math.max(8, acc.ts.length * 2)];
            System.arraycopy(acc.ts, acc.start, next, 0, live);
            acc.ts = next;
            acc.start = 0;
            acc.end = live;
        }
        acc.ts[acc.end++] = ms;
    }

    public void retract(Acc acc, Long ms, Long spanMs, Boolean cond) {
        if (ms == null || cond == null || !cond) {
            return;
        }
        if (acc.evicted > 0) {  // the oldest counted row, already dropped for age
            acc.evicted--;
            return;
        }
        if (acc.start < acc.end) {
            acc.start++;
        }
        if (acc.start == acc.end) {
            acc.start = 0;
            acc.end = 0;
        }
    }

    @Override
    public Long getValue(Acc acc) {
        long from = acc.last - acc.span;
        int lo = acc.start;
        int hi = acc.end;
        while (lo < hi) {  // first index with ts >= from
            int mid = (lo + hi) >>> 1;
            if (acc.ts[mid] < from) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return (long) (acc.end - lo);
    }
}
