package org.cxm.flink;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The state serializer of {@link CountSince}'s accumulator (its RAW type's {@code rawSerializer}).
 *
 * <p>Without it, Flink serializes a RAW accumulator with Kryo: reflection over the fields and the whole
 * {@code ts} array, its unused capacity included, in every checkpoint, and a Kryo deep copy whenever the heap
 * state copies an accumulator on write while a checkpoint is being written. This writes only the live event
 * times and copies them with one array copy.
 *
 * <p>Format: the number of live times {@code n}, the {@code n} times (ascending), {@code last}, {@code span},
 * {@code evicted}. A copy or a read-back holds the live times from index 0.
 */
public final class CountSinceAccSerializer extends TypeSerializerSingleton<CountSince.Acc> {
    private static final long serialVersionUID = 1L;

    /** The instance the snapshot restores; Flink also instantiates the class by its public constructor. */
    public static final CountSinceAccSerializer INSTANCE = new CountSinceAccSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public CountSince.Acc createInstance() {
        return new CountSince.Acc();
    }

    private static CountSince.Acc withLive(int live) {
        CountSince.Acc acc = new CountSince.Acc();
        acc.ts = new long[Math.max(8, live)];
        acc.start = 0;
        acc.end = live;
        return acc;
    }

    @Override
    public CountSince.Acc copy(CountSince.Acc from) {
        int live = from.end - from.start;
        CountSince.Acc acc = withLive(live);
        System.arraycopy(from.ts, from.start, acc.ts, 0, live);
        acc.last = from.last;
        acc.span = from.span;
        acc.evicted = from.evicted;
        return acc;
    }

    @Override
    public CountSince.Acc copy(CountSince.Acc from, CountSince.Acc reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(CountSince.Acc acc, DataOutputView out) throws IOException {
        int live = acc.end - acc.start;
        out.writeInt(live);
        for (int i = acc.start; i < acc.end; i++) {
            out.writeLong(acc.ts[i]);
        }
        out.writeLong(acc.last);
        out.writeLong(acc.span);
        out.writeLong(acc.evicted);
    }

    @Override
    public CountSince.Acc deserialize(DataInputView in) throws IOException {
        int live = in.readInt();
        if (live < 0) {
            throw new IOException("CountSince accumulator with a negative number of event times: " + live);
        }
        CountSince.Acc acc = withLive(live);
        for (int i = 0; i < live; i++) {
            acc.ts[i] = in.readLong();
        }
        acc.last = in.readLong();
        acc.span = in.readLong();
        acc.evicted = in.readLong();
        return acc;
    }

    @Override
    public CountSince.Acc deserialize(CountSince.Acc reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        int live = in.readInt();
        out.writeInt(live);
        out.write(in, (live + 3) * Long.BYTES);
    }

    @Override
    public TypeSerializerSnapshot<CountSince.Acc> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Restores this serializer (no configuration: the format is versioned by the snapshot's version). */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<CountSince.Acc> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
