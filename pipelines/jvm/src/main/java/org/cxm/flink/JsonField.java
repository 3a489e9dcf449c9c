package org.cxm.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;
import java.util.Arrays;

/**
 * {@code CXM_JSON_FIELD(payload, name)}: the text of the first top-level string field {@code name} of a JSON
 * object, read with a streaming parser that stops there; NULL when the payload is not an object, the field is
 * missing or not a string, or the document is broken before it. Used for the rowtime of the raw sources (the
 * full validation happens later, with {@link JsonFields}). Parses the payload's UTF-8 bytes in place.
 *
 * <p>A source with a watermark evaluates its rowtime expression twice per record: once in the watermark
 * generator and once for the column. Each thread therefore remembers its last payload (a copy of its bytes) and
 * result: a call on equal bytes returns it without parsing again.
 */
public class JsonField extends ScalarFunction {
    private static final JsonFactory FACTORY = new JsonFactory();

    private final Utf8.CachedText names = new Utf8.CachedText();

    /** The last lookup of a thread: the payload's bytes, the field name and the value found. */
    private static final class Last {
        byte[] payload;
        String name;
        StringData value;
    }

    private static final ThreadLocal<Last> LAST = ThreadLocal.withInitial(Last::new);

    public @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData nameData) {
        if (payload == null || nameData == null) {
            return null;
        }
        String name = names.of(nameData);
        Utf8.View v = Utf8.view(payload);
        Last last = LAST.get();
        if (last.payload != null && last.payload.length == v.length && name.equals(last.name)
                && Arrays.equals(last.payload, 0, v.length, v.array, v.offset, v.offset + v.length)) {
            return last.value;
        }
        StringData value = find(v, name);
        last.payload = Arrays.copyOfRange(v.array, v.offset, v.offset + v.length);
        last.name = name;
        last.value = value;
        return value;
    }

    private static StringData find(Utf8.View v, String name) {
        try (JsonParser p = FACTORY.createParser(v.array, v.offset, v.length)) {
            JsonToken t = Utf8.seekTopLevelField(p, name);
            return t == JsonToken.VALUE_STRING ? StringData.fromString(p.getText()) : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
