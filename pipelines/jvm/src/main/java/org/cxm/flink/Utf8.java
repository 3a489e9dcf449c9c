package org.cxm.flink;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinarySection;
import org.apache.flink.table.data.binary.BinaryStringData;

import java.io.IOException;

/** The UTF-8 bytes of Flink's internal strings, without decoding them into Java strings. */
final class Utf8 {
    /** Bytes {@code [offset, offset + length)} of {@code array}. */
    static final class View {
        final byte[] array;
        final int offset;
        final int length;

        View(byte[] array, int offset, int length) {
            this.array = array;
            this.offset = offset;
            this.length = length;
        }
    }

    private Utf8() {
    }

    /** The string's bytes: in place when they sit in one heap segment, else a copy. */
    static View view(StringData s) {
        if (s instanceof BinaryStringData) {
            BinarySection b = ((BinaryStringData) s).getBinarySection();  // null: not materialized (a Java string)
            MemorySegment[] segments = b == null ? null : b.getSegments();
            if (segments != null && segments.length == 1 && !segments[0].isOffHeap()
                    && b.getOffset() + b.getSizeInBytes() <= segments[0].size()) {
                return new View(segments[0].getArray(), b.getOffset(), b.getSizeInBytes());
            }
        }
        byte[] bytes = s.toBytes();
        return new View(bytes, 0, bytes.length);
    }

    /** A Jackson parser over the string's UTF-8 bytes. */
    static JsonParser parser(JsonFactory factory, StringData s) throws IOException {
        View v = view(s);
        return factory.createParser(v.array, v.offset, v.length);
    }

    /**
     * Moves {@code p} (at the start of a document) to the value of the first top-level field {@code name} of an
     * object and returns that value's token; NULL when the document is not an object or has no such field.
     */
    static JsonToken seekTopLevelField(JsonParser p, String name) throws IOException {
        if (p.nextToken() != JsonToken.START_OBJECT) {
            return null;
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            boolean hit = name.equals(p.currentName());
            JsonToken t = p.nextToken();
            if (hit) {
                return t;
            }
            p.skipChildren();
        }
        return null;
    }

    /** The Java text of a (constant) SQL string argument, converted again only when the argument changes. */
    static final class CachedText implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        private transient StringData last;
        private transient String text;

        String of(StringData s) {
            if (last == null || !s.equals(last)) {
                text = s.toString();
                last = s;
            }
            return text;
        }
    }
}
