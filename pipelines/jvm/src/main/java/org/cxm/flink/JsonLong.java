package org.cxm.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;

/**
 * {@code CXM_JSON_LONG(payload, name)}: the value of the first top-level integer field {@code name} of a JSON
 * object as a BIGINT, read with a streaming parser over the payload's UTF-8 bytes (in place) that stops there:
 * the rest of the document is not looked at. NULL when the payload is not an object, the field is missing, not
 * an integer or out of the BIGINT range, or the document is broken before it. The decision job reads the event
 * time of a feature changelog row with it and carries the rest of the row as opaque text.
 */
public class JsonLong extends ScalarFunction {
    private static final JsonFactory FACTORY = new JsonFactory();

    private final Utf8.CachedText names = new Utf8.CachedText();

    public Long eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData nameData) {
        if (payload == null || nameData == null) {
            return null;
        }
        String name = names.of(nameData);
        try (JsonParser p = Utf8.parser(FACTORY, payload)) {
            if (Utf8.seekTopLevelField(p, name) != JsonToken.VALUE_NUMBER_INT) {
                return null;
            }
            JsonParser.NumberType type = p.getNumberType();
            if (type != JsonParser.NumberType.INT && type != JsonParser.NumberType.LONG) {
                return null;
            }
            return p.getLongValue();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
