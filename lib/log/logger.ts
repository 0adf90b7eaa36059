/**
 * One structured, levelled logger for the library and the CLI. Records go to a sink; the
 * default sink writes text lines (or JSON lines) to stderr. Silence it with level 'silent'
 * or replace it with your own sink (pino, winston, a test array).
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogRecord {
  level: Exclude<LogLevel, 'silent'>;
  message: string;
  time: string;
  fields?: Record<string, unknown>;
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  /** Lowest level written. Default 'info'. */
  level?: LogLevel;
  /** Where records go. Default: text lines on stderr. */
  sink?: (record: LogRecord) => void;
  /** Format of the default sink. Default 'text'. */
  format?: 'text' | 'json';
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** `key=value key2=value2` (strings bare, everything else as JSON). */
export function formatFields(fields: Record<string, unknown> | undefined): string {
  return Object.entries(fields ?? {})
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(' ');
}

/**
 * One field's value on one line: numbers as JavaScript writes them (NaN and Infinity too,
 * which JSON would turn into null: a skipped step's loss must say which it was), strings bare
 * unless a space, quote or line break would break the key=value form, the rest as JSON.
 */
function formatValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return /^[^\s"]*$/.test(value) ? value : JSON.stringify(value);
  try {
    return (
      JSON.stringify(value, (_, inner: unknown) =>
        typeof inner === 'number' && !Number.isFinite(inner)
          ? String(inner)
          : typeof inner === 'bigint'
            ? String(inner)
            : inner,
      ) ?? String(value)
    );
  } catch {
    return String(value); // a circular object
  }
}

/** `info  message key=value ...` as one line. */
export function formatText(record: LogRecord): string {
  const fields = formatFields(record.fields);
  return `${record.level.padEnd(5)} ${record.message}${fields ? ` ${fields}` : ''}`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (!LOG_LEVELS.includes(level)) {
    throw new TypeError(`Expected one of ${LOG_LEVELS.join(', ')} for level but received ${JSON.stringify(level)}`);
  }
  const format = options.format ?? 'text';
  if (format !== 'text' && format !== 'json')
    throw new TypeError(`Expected 'text' or 'json' for format but received ${JSON.stringify(format)}`);
  const sink =
    options.sink ??
    ((record: LogRecord) =>
      process.stderr.write(`${format === 'json' ? JSON.stringify(record) : formatText(record)}\n`));
  const write = (recordLevel: LogRecord['level']) => (message: string, fields?: Record<string, unknown>) => {
    if (RANK[recordLevel] < RANK[level]) return;
    sink({ level: recordLevel, message, time: new Date().toISOString(), ...(fields ? { fields } : {}) });
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ level: 'silent' });

/** A record as the CLI's commands print it: `cover-torch [level: ]message  key=value ...`. */
export function formatCommandLine(record: LogRecord): string {
  const fields = formatFields(record.fields);
  return `cover-torch ${record.level === 'info' ? '' : `${record.level}: `}${record.message}${fields ? `  ${fields}` : ''}`;
}
