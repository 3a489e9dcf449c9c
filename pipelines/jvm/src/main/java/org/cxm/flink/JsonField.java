package org.cxm.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;

/**
 * {@code CXM_JSON_FIELD(payload, name)}: the text of the first top-level string field {@code name} of a JSON
 * object, read with a streaming parser that stops there; NULL when the payload is not an object, the field is
 * missing or not a string, or the document is broken before it. Used for the rowtime of the raw sources (the
 * full validation happens later, with {@link JsonFields}). Parses the payload's UTF-8 bytes in place.
 */
public class JsonField extends ScalarFunction {
    private static final JsonFactory FACTORY = new JsonFactory();

    private transient StringData lastName;
    private transient String nameText;

    public @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData nameData) {
        if (payload == null || nameData == null) {
            return null;
        }
        if (lastName == null || !nameData.equals(lastName)) {
            nameText = nameData.toString();
            lastName = nameData;
        }
        String name = nameText;
        try (JsonParser p = Utf8.parser(FACTORY, payload)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                boolean hit = name.equals(p.currentName());
                JsonToken t = p.nextToken();
                if (hit) {
                    return t == JsonToken.VALUE_STRING ? StringData.fromString(p.getText()) : null;
                }
                p.skipChildren();
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
        return null;
    }
}
