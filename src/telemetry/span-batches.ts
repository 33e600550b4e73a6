// Finished spans on their way to the collector, as OTLP protobuf bytes (written by otlp-protobuf.ts when each
// span ends), gathered into batches by the rules of OpenTelemetry's BatchSpanProcessor: a batch is exported
// when it holds `maxBatch` spans, or `delayMs` after the first span of the batch; one export runs at a time;
// at most `maxQueue` spans wait, later ones are dropped and counted. What the processor keeps per waiting span
// is the span's objects; here it is the span's bytes in its batch's buffer, so a waiting span costs the
// garbage collector nothing (docs/DECISIONS.md, "Observability").
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ProtoWriter, writeSpan } from './otlp-protobuf.js';

/** A batch as the exporter takes it: its spans' bytes (ScopeSpans entries) and how many spans they are. */
export interface EncodedBatch {
  spans: Uint8Array;
  count: number;
}

/** The exporter's side: OpenTelemetry's OTLPExporterBase over a serializer that frames an EncodedBatch. */
export interface BatchExporter {
  export(batch: EncodedBatch, done: (result: { code: number; error?: Error }) => void): void;
  shutdown(): Promise<void>;
}

export interface SpanBatchOptions {
  /** Milliseconds from a batch's first span to its export (OTEL_BSP_SCHEDULE_DELAY). */
  delayMs: number;
  /** Spans per export at most (OpenTelemetry's default 512). */
  maxBatch?: number;
  /** Spans waiting at most, beyond which new ones are dropped (OpenTelemetry's default 2048). */
  maxQueue?: number;
  /** A batch that could not be exported (after the transport's retries). */
  onExportError(error: Error): void;
  /** Spans dropped because the queue was full, reported when the next span is taken again. */
  onDropped(count: number): void;
}

const SUCCESS = 0; // ExportResultCode.SUCCESS

class OpenBatch {
  count = 0;
  constructor(readonly writer: ProtoWriter) {}
}

export class SpanBatches {
  /** Writers of exported batches, kept for the next ones (their buffers have grown to a batch's size). */
  private readonly spare: ProtoWriter[] = [];
  private open = this.newBatch();
  /** Full batches waiting for the export that runs now. */
  private readonly full: OpenBatch[] = [];
  private waiting = 0;
  private dropped = 0;
  private exporting = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly idle: (() => void)[] = [];
  private closed = false;
  private readonly maxBatch: number;
  private readonly maxQueue: number;

  constructor(
    private readonly exporter: BatchExporter,
    private readonly options: SpanBatchOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 512;
    this.maxQueue = options.maxQueue ?? 2048;
  }

  /** Encodes a finished span into the open batch (or drops it when the queue is full). */
  add(span: ReadableSpan): void {
    if (this.closed) return;
    if (this.waiting >= this.maxQueue) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      this.options.onDropped(this.dropped);
      this.dropped = 0;
    }
    writeSpan(this.open.writer, span);
    this.open.count++;
    this.waiting++;
    this.schedule();
  }

  /** Exports everything waiting; resolves when the last of it has been exported (or has failed). */
  async flush(): Promise<void> {
    this.seal();
    this.next();
    while (this.exporting) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** Exports what waits, then shuts the exporter down; later spans are ignored. */
  async shutdown(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.exporter.shutdown();
  }

  /**
   * The open batch leaves now when it is full, else after the delay; while an export runs, it waits (and
   * fills further batches) until that export is done.
   */
  private schedule(): void {
    if (this.open.count >= this.maxBatch) {
      this.seal();
      this.next();
    } else if (this.open.count > 0 && this.timer === undefined && !this.exporting) {
      this.timer = setTimeout(this.expire, this.options.delayMs);
      this.timer.unref();
    }
  }

  private readonly expire = () => {
    this.timer = undefined;
    this.seal();
    this.next();
  };

  /** Moves the open batch, if it has spans, to the full ones. */
  private seal(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.open.count === 0) return;
    this.full.push(this.open);
    this.open = this.newBatch();
  }

  private newBatch(): OpenBatch {
    const writer = this.spare.pop() ?? new ProtoWriter();
    writer.pos = 0;
    return new OpenBatch(writer);
  }

  /** Starts the next export unless one runs; with nothing left to export, wakes flush(). */
  private next(): void {
    if (this.exporting) return;
    const batch = this.full.shift();
    if (!batch) {
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    this.exporting = true;
    this.waiting -= batch.count;
    this.exporter.export({ spans: batch.writer.written(), count: batch.count }, (result) => {
      this.spare.push(batch.writer); // its bytes are in the request by now (the serializer copies them)
      this.exporting = false;
      if (result.code !== SUCCESS) this.options.onExportError(result.error ?? new Error('span export failed'));
      this.next();
      this.schedule(); // spans that arrived meanwhile
    });
  }
}
