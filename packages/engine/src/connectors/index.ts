export { fileSource } from './file-source.js';
export { generatorSource, generatedLine, DEFAULT_VOCABULARY } from './generator-source.js';
export { fileSink, readCommittedOutput, formatRecord } from './file-sink.js';
export { logSink } from './log-sink.js';
export { postgresSink, parsePostgresSinkOptions, type PostgresSinkOptions } from './postgres-sink.js';
export { nexmarkSource } from '../nexmark/source.js';
export { redisStreamSource, parseRedisStreamSourceOptions, streamsOfTask, type RedisStreamSourceOptions, type RedisStreamRecord } from './redis-stream-source.js';
export { redisStreamIdAtTime, compareStreamIds } from './redis-stream-ids.js';
export { postgresSource, parsePostgresSourceOptions, defaultSlotName, type PostgresSourceOptions, type PostgresChange } from './postgres-source.js';
