package org.cxm.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.ByteArrayOutputStream;

/**
 * {@code CXM_JSON_STRING(text)}: the JSON string literal of a text (quoted; {@code "}, {@code \} and control
 * characters escaped), NULL for NULL. Lets a query build a JSON document with {@code CONCAT} (the feature
 * changelog's values), which is much cheaper than Flink's JSON format building a tree per row.
 */
public class JsonString extends ScalarFunction {

    public @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData text) {
        if (text == null) {
            return null;
        }
        Utf8.View v = Utf8.view(text);
        int end = v.offset + v.length;
        boolean plain = true;
        for (int i = v.offset; i < end; i++) {
            byte b = v.array[i];
            if (b == '"' || b == '\\' || (b >= 0 && b < 0x20)) {
                plain = false;
                break;
            }
        }
        if (plain) {
            byte[] out = new byte[v.length + 2];
            out[0] = '"';
            System.arraycopy(v.array, v.offset, out, 1, v.length);
            out[out.length - 1] = '"';
            return BinaryStringData.fromBytes(out);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(v.length + 16);
        out.write('"');
        for (int i = v.offset; i < end; i++) {
            byte b = v.array[i];
            if (b == '"' || b == '\\') {
                out.write('\\');
                out.write(b);
            } else if (b >= 0 && b < 0x20) {
                switch (b) {
                    case '\n': out.write('\\'); out.write('n'); break;
                    case '\r': out.write('\\'); out.write('r'); break;
                    case '\t': out.write('\\'); out.write('t'); break;
                    default:
                        String hex = String.format("\\u%04x", b);
                        for (int k = 0; k < hex.length(); k++) {
                            out.write(hex.charAt(k));
                        }
                }
            } else {
                out.write(b);  // UTF-8 bytes of other characters pass as they are
            }
        }
        out.write('"');
        return BinaryStringData.fromBytes(out.toByteArray());
    }
}
