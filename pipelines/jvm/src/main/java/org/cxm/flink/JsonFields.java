package org.cxm.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
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
 */
public class JsonFields extends ScalarFunction {
    private static final JsonFactory FACTORY = new JsonFactory();
    private transient String lastSpec;
    private transient Map<String, Integer> index;
    private transient char[] types;

    private void compile(String spec) {
        String[] parts = spec.split(",");
        index = new HashMap<>(parts.length * 2);
        types = new char[parts.length];
        for (int i = 0; i < parts.length; i++) {
            int colon = parts[i].lastIndexOf(':');
            String name = colon < 0 ? parts[i] : parts[i].substring(0, colon);
            types[i] = colon < 0 ? 's' : parts[i].charAt(colon + 1);
            index.put(name.trim(), i);
        }
        lastSpec = spec;
    }

    public @DataTypeHint("ARRAY<STRING>") String[] eval(String payload, String spec) {
        if (spec == null) {
            return null;
        }
        if (!spec.equals(lastSpec)) {
            compile(spec);
        }
        int n = types.length;
        String[] out = new String[n + 1];
        if (payload == null) {
            out[0] = "not_json";
            return out;
        }
        char[] present = new char[n];
        java.util.Arrays.fill(present, '0');
        try (JsonParser p = FACTORY.createParser(payload)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                out[0] = "not_json";
                return out;
            }
            if (t != JsonToken.START_OBJECT) {
                p.skipChildren();
                out[0] = p.nextToken() == null ? "not_object" : "not_json";
                return out;
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
        return out;
    }

    private static String[] notJson(String[] out) {
        java.util.Arrays.fill(out, null);
        out[0] = "not_json";
        return out;
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
