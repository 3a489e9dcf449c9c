package org.cxm.flink;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinarySection;
import org.apache.flink.table.data.binary.BinaryStringData;

import java.io.IOException;

/** Access to the UTF-8 bytes of Flink's internal strings without decoding them into Java strings. */
final class Utf8 {
    private Utf8() {
    }

    /** A Jackson parser over the string's UTF-8 bytes (in place when they sit in one heap segment). */
    static JsonParser parser(JsonFactory factory, StringData s) throws IOException {
        if (s instanceof BinaryStringData) {
            BinarySection b = ((BinaryStringData) s).getBinarySection();  // null: not materialized (a Java string)
            MemorySegment[] segments = b == null ? null : b.getSegments();
            if (segments != null && segments.length == 1 && !segments[0].isOffHeap()
                    && b.getOffset() + b.getSizeInBytes() <= segments[0].size()) {
                return factory.createParser(segments[0].getArray(), b.getOffset(), b.getSizeInBytes());
            }
        }
        return factory.createParser(s.toBytes());
    }
}
