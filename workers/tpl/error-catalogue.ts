/**
 * The template's error codes and what each means. Together with the vendor layer's codes
 * (workers/lib/error-catalogue.ts) this is the catalogue that docs/rpc.md lists; a test fails
 * when the code throws a code that is not in it. `<…>` marks a family (a variable suffix).
 */
export type ErrorCatalogue = Readonly<Record<string, string>>

export const TPL_ERRORS: ErrorCatalogue = {
  // RPC dispatch
  ERR_FACS_NET_DATA_FORMAT: 'the request is not JSON',
  ERR_REQUEST_TOO_LARGE: 'the request is larger than r0.maxRequestBytes (default 1 MiB)',
  ERR_SETTINGS_TOO_LARGE: 'all settings together would be over 1 MiB; nothing was saved',
  ERR_PARAMS_INVALID: 'the request is not an object where one is expected, has a prototype key, is nested deeper than 32 levels, has a string over 64 KiB, an array over 10 000 entries or an object over 1000 keys, or a field fails its schema',
  ERR_PERMISSION_DENIED: 'a write method called with a read-only key',
  ERR_WRK_STOPPING: 'the worker is stopping',
  ERR_INTERNAL: 'an unexpected failure (logged with its stack)',
  ERR_METHOD_INVALID: 'unknown method (in-process calls) or an invalid applyThings method',
  ERR_RPC_TIMEOUT: 'an outgoing RPC request got no reply within its timeout (connecting included)',
  ERR_RPC_CONNECT_FAILED: 'no RPC channel to the server key after every connect attempt',
  ERR_RPC_CLIENT_CLOSED: 'an outgoing RPC request on a closed client, or one closed while it waited',
  ERR_RPC_KEY_INVALID: 'a server key that is not 32 bytes or 64 hex characters',
  ERR_RPC_REPLY_INVALID: 'an RPC reply that is not JSON',
  ERR_RPC_REGISTER_AFTER_START: 'an RPC method was declared after the worker started (programming error)',
  // worker life cycle and facilities
  ERR_RESOURCE_CLOSED: 'ready() on a facility or resource that was closed (programming error)',
  'ERR_WRK_ALREADY_<state>': 'start() called on a worker that is starting, started, stopping or stopped',
  ERR_CONFIG_MISSING: 'a required config file is missing',
  ERR_CONFIG_INVALID: 'a config file is not valid JSON or has an invalid setting',
  ERR_NET_BOOTSTRAP_INVALID: 'r0.dhtOpts.bootstrap is not a list of host:port',
  ERR_NET_NOT_STARTED: 'the net facility is used before start',
  ERR_STORE_LOCKED: 'the store is in use by another process (the rack already runs)',
  ERR_STORE_OPEN: 'the store or one of its logs cannot be opened',
  ERR_STORE_NOT_STARTED: 'the store is used before start',
  ERR_STORE_TIMEOUT: 'a store write did not complete within storeTimeoutMs; nothing was changed',
  ERR_STORE_WRITE_FAILED: 'a store write failed; nothing was changed',
  ERR_VALUE_TOO_LARGE: 'a record or log entry over 1 MiB; refused before anything was written',
  // things
  ERR_THING_NOTFOUND: 'no thing with that id',
  ERR_THING_ID_INVALID: 'id is not a non-empty string of at most 256 characters',
  ERR_THING_CODE_INVALID: 'code does not end in -<1 to 9 digits>',
  ERR_THING_OPTS_INVALID: 'opts fail the worker type\'s checks',
  ERR_THING_INFO_INVALID: 'info is not an object',
  ERR_THING_TAGS_INVALID: 'tags is not a list of strings',
  ERR_THING_WITH_ID_ALREADY_EXISTS: 'a thing with that id exists',
  ERR_THING_WITH_CODE_ALREADY_EXISTS: 'a thing with that code exists',
  ERR_THING_METHOD_NOTFOUND: 'not a declared controller method',
  ERR_THING_NOT_INITIALIZED: 'the thing has no controller (no address or credentials)',
  ERR_THING_NOT_CONNECTED: 'the thing could not be connected',
  ERR_THING_CONNECTION_FAILURE: 'creating the thing\'s controller failed',
  ERR_THING_CLOSED: 'the thing\'s controller was closed',
  ERR_THING_OFFLINE: 'the device has not answered (last.err of an offline snapshot)',
  ERR_OFFLINE: 'the device is offline',
  ERR_THING_SNAP_TIMEOUT: 'a snapshot took longer than collectSnapTimeoutMs',
  ERR_THING_READ_TIMEOUT: 'a queryThing read did not complete within readBudgetMs (getSnap answers it as an error envelope)',
  ERR_THING_SNAP_FAILED: 'a snapshot failed unexpectedly',
  ERR_THING_COMMENT_NOTFOUND: 'no comment with that id or ts',
  ERR_COMMENT_ACCESS_DENIED: 'only the author may change a comment',
  ERR_QUERY_INVALID: 'a query operator that is not allowed, or an unsafe $regex',
  ERR_FIELDS_INVALID: 'a projection that is not field inclusion/exclusion',
  ERR_INVALID_REQUEST_TYPE: 'getThingConf requestType is not nextAvailableCode',
  ERR_ENTRIES_INVALID: 'saveWrkSettings entries is not a non-empty object',
  // logs and history
  ERR_INFO_HISTORY_LOG_TYPE_INVALID: 'getHistoricalLogs logType is missing or not alerts/info',
  ERR_LOG_KEY_NOTFOUND: 'tailLog key is not thing-5m or stat-<tf>',
  ERR_LOG_TAG_INVALID: 'tailLog tag is missing or too long',
  ERR_LOG_NOTFOUND: 'no such log, or offset beyond the readable generations',
  ERR_LOG_GROUP_RANGE_INVALID: 'groupRange is not <n><s|m|h|d|w>',
  // container actions (template)
  ERR_WRITE_ACTION_NOT_SUPPORTED: 'not a container write action',
  ERR_SWITCH_SOCKET_INVALID_PARAMS: 'switchSocket params are not a list of [pdu, socket, enabled]',
  ERR_SWITCH_SOCKET_PDU_INVALID: 'PDU index out of range',
  ERR_SWITCH_SOCKET_SOCKET_INVALID: 'socket index out of range',
  ERR_SWITCH_SOCKET_ENABLED_INVALID: 'enabled is not a boolean',
  ERR_SWITCH_CONTAINER_ENABLED_INVALID: 'switchContainer enabled is not a boolean',
  ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID: 'switchCoolingSystem enabled is not a boolean',
  ERR_COOLING_FAN_THRESHOLD_INVALID: 'setCoolingFanThreshold values out of range or inconsistent'
}
