/** The ci-fixer service's port and the image its sandboxes run unless a request names another. */
export const DEFAULT_PORT = 3001;
export const DEFAULT_SANDBOX_IMAGE = 'nikolaik/python-nodejs:python3.11-nodejs20-bullseye';

/** Finished runs kept for GET /api/runs. */
export const DEFAULT_HISTORY = 200;
/**
 * Output the finished runs keep together: a quarter of the chart's 256Mi memory request, so the
 * history fits beside the running runs' output and the process itself.
 */
export const DEFAULT_HISTORY_BYTES = 64 * 1024 * 1024;
/**
 * Output one run keeps: a long CI log (a sandbox keeps 1 MiB per stream of each command, a run has
 * up to 100 commands); with 4 runs at once the running runs hold at most 64 MiB, as the history.
 */
export const DEFAULT_RUN_OUTPUT_BYTES = 16 * 1024 * 1024;
/**
 * Live events an event-stream subscriber may leave unsent beyond its replay before it is
 * disconnected: a client that stops reading must not make the service buffer without end.
 */
export const DEFAULT_EVENT_STREAM_BUFFER_BYTES = 4 * 1024 * 1024;
