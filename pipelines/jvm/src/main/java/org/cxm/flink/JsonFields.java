package org.cxm.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryArrayData;
import org.apache.flink.table.data.writer.BinaryArrayWriter;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * {@code CXM_JSON_FIELDS(payload, spec)}: the top-level fields of a JSON object in ONE streaming parse.
 *
 * <p>{@code spec} lists the wanted fields as {@code name:type,...} with type {@code s} (string), {@code n} (number)
 * or {@code b} (boolean). The result has one element more than the spec:
 * <ul>
 *   <li>[1] (SQL index): {@code 'not_json'}, {@code 'not_object'}, or one character per wanted field, {@code '1'}
 *       when the key is present (even with a JSON null) and {@code '0'} when it is missing;</li>
 *   <li>[i + 1]: the i-th field's text when present with the wanted JSON type (a number's literal text, a boolean
 *       as {@code true}/{@code false}), else NULL (missing, null, or another JSON type).</li>
 * </ul>
 * Flink's {@code JSON_VALUE} parses the whole document into a tree per call; an event with a dozen fields was
 * parsed a dozen times. Declared non-deterministic so that the planner never copies the call into each
 * reference of its result (it evaluates it once per row).
 *
 * <p>Works on Flink's internal data: the payload's UTF-8 bytes are parsed in place (no decoding of the whole
 * payload into a Java string), and the result is a {@link BinaryArrayData}: every text is encoded to UTF-8 once,
 * into one byte array. An element read downstream ({@code jf[i]}) is a view into it, and the planner's copies of
 * the array (Calc boundaries, the fan-out to the dead-letter and de-duplication branches) are one array copy,
 * not a copy and UTF-8 encoding of each element (a generic array of Java-string-backed elements was ~6% of the
 * feature job's CPU in bench_e2e's JFR profile).
 */
public class JsonFields extends ScalarFunction {
    private static final JsonFactory FACTORY = new JsonFactory();
    private transient StringData lastSpec;
    private transient Map<String, Integer> index;
    private transient char[] types;

    private void compile(StringData specData) {
        String spec = specData.toString();
        String[] parts = spec.split(",");
        index = new HashMap<>(parts.length * 2);
        types = new char[parts.length];
        for (int i = 0; i < parts.length; i++) {
            int colon = parts[i].lastIndexOf(':');
            String name = colon < 0 ? parts[i] : parts[i].substring(0, colon);
            types[i] = colon < 0 ? 's' : parts[i].charAt(colon + 1);
            index.put(name.trim(), i);
        }
        lastSpec = specData;
    }

    public @DataTypeHint(value = "ARRAY<STRING>", bridgedTo = ArrayData.class) ArrayData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData spec) {
        if (spec == null) {
            return null;
        }
        if (lastSpec == null || !spec.equals(lastSpec)) {
            compile(spec);
        }
        int n = types.length;
        String[] out = new String[n + 1];
        if (payload == null) {
            return status(out, "not_json");
        }
        char[] present = new char[n];
        java.util.Arrays.fill(present, '0');
        try (JsonParser p = Utf8.parser(FACTORY, payload)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                return status(out, "not_json");
            }
            if (t != JsonToken.START_OBJECT) {
                p.skipChildren();
                return status(out, p.nextToken() == null ? "not_object" : "not_json");
            }
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                Integer i = index.get(p.currentName());
                t = p.nextToken();
                if (i == null) {
                    p.skipChildren();
                    continue;
                }
                present[i] = '1';
                String v = null;
                switch (types[i]) {
                    case 's':
                        if (t == JsonToken.VALUE_STRING) {
                            v = p.getText();
                        }
                        break;
                    case 'n':
                        if (t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT) {
                            v = p.getText();
                        }
                        break;
                    case 'b':
                        if (t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE) {
                            v = p.getText();
                        }
                        break;
                    default:
                        break;
                }
                if (v == null) {
                    p.skipChildren();
                }
                out[i + 1] = v;
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
                return notJson(out);
            }
        } catch (IOException | RuntimeException e) {
            return notJson(out);
        }
        out[0] = new String(present);
        return binary(out);
    }

    private static ArrayData status(String[] out, String status) {
        out[0] = status;
        return binary(out);
    }

    private static ArrayData notJson(String[] out) {
        java.util.Arrays.fill(out, null);
        return status(out, "not_json");
    }

    /** The texts as one binary array (NULL elements stay NULL). */
    static BinaryArrayData binary(String[] texts) {
        BinaryArrayData array = new BinaryArrayData();
        BinaryArrayWriter w = new BinaryArrayWriter(array, texts.length, 8);
        for (int i = 0; i < texts.length; i++) {
            if (texts[i] == null) {
                w.setNullAt(i);
            } else {
                w.writeString(i, StringData.fromString(texts[i]));  // encoded once, straight into the array
            }
        }
        w.complete();
        return array;
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
