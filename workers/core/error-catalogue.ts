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
  ERR_PARAMS_INVALID: 'the request is not an object where one is expected, has a prototype key, is nested deeper than 32 levels, has a ' +
    'string over 64 KiB, an array over 10 000 entries or an object over 1000 keys, or a field fails its schema',
  ERR_PERMISSION_DENIED: 'a write method called with a read-only key',
  ERR_WRK_STOPPING: 'the worker is stopping',
  ERR_BUSY: 'a heavy read (listing things, reading logs) found 2 running and 32 waiting, or waited 4 s for a slot; try again',
  ERR_READ_BUDGET_EXCEEDED: 'a read would examine more than 50 000 entries or run longer than 5 s: narrow start/end or the query',
  ERR_REPLY_TOO_LARGE: 'a reply would be over 12 MiB (the transport closes the channel past 16 MB); nothing was changed by a read',
  ERR_SLAVE_BLOCK: 'a read replica (--slave) refuses writes and device calls (queryThing, getWriteCalls): send them to the master',
  ERR_REPLICA_NOT_READY: 'a read replica that has not received its master\'s data yet (the master has not been reached since it started ' +
    'with an empty copy)',
  ERR_REPLICA_CONF_INVALID: 'getReplicaConf answered something that is not a replica configuration (logged by a replica)',
  ERR_REPLICA_NOT_SERVED: 'the master serves no replicas: it has no replicaDiscoveryKey (logged by a replica)',
  ERR_REPLICA_DIVERGED: 'the master\'s history went back in time under the same key (its store folder was copied back): a read replica ' +
    'refuses reads until an operator resets its copy (docs/operations.md); logged by a master refusing a peer\'s diverged copy',
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
  ERR_GLOBAL_CONFIG_MISSING: 'getWrkConf on a worker without config/global.config.json (./setup-config.sh makes it from the example)',
  ERR_NET_BOOTSTRAP_INVALID: 'r0.dhtOpts.bootstrap is not a list of host:port',
  ERR_METRICS_NOT_STARTED: 'the metrics endpoint address asked for before it listens (programming error)',
  ERR_NET_NOT_STARTED: 'the net facility is used before start',
  ERR_STORE_LOCKED: 'the store is in use by another process (the rack already runs)',
  ERR_STORE_OPEN: 'the store or one of its logs cannot be opened',
  ERR_STORE_NOT_STARTED: 'the store is used before start',
  ERR_STORE_TIMEOUT: 'a store write did not complete within storeTimeoutMs; nothing was changed',
  ERR_STORE_WRITE_FAILED: 'a store write failed; nothing was changed',
  ERR_BACKUP_INVALID: 'a store backup file that is not one, or is incomplete (mbt-store restore checks the whole file before anything ' +
    'moves)',
  ERR_VALUE_TOO_LARGE: 'a record or log entry over 1 MiB; refused before anything was written',
  // things
  ERR_THING_NOTFOUND: 'no thing with that id',
  ERR_THING_ID_INVALID: 'id is not a non-empty string of at most 256 characters',
  ERR_THING_CODE_INVALID: 'code does not end in -<1 to 9 digits>',
  ERR_THING_OPTS_INVALID: 'opts fail the worker type\'s checks',
  ERR_THING_INFO_INVALID: 'info is not an object',
  ERR_THING_TAGS_INVALID: 'tags is not a list of strings, or the thing would have more than maxTagsPerThing tags (64 by default, ' +
    'automatic ones included)',
  ERR_THING_LIMIT: 'the rack already holds maxThings things (10 000 by default); nothing was registered',
  ERR_STAT_TAGS_LIMIT: 'the thing would bring the rack past maxStatTags distinct stat tags (5000 by default); nothing was written',
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
  // DHCP (last.err of a thing waiting for its address; retried on later cycles)
  ERR_DHCP_PENDING: 'the thing waits for its first address from the DHCP service',
  ERR_DHCP_NOT_CONFIGURED: 'the thing has info.macAddress and info.subnet but facs/miningos-net.config.json has no n0.dhcpRpcPublicKey',
  ERR_DHCP_UNREACHABLE: 'the DHCP service cannot be reached (no RPC channel to its key)',
  ERR_DHCP_TIMEOUT: 'the DHCP service did not answer within n0.dhcpTimeoutMs',
  ERR_DHCP_REJECTED: 'the DHCP service answered an error (its code is logged)',
  ERR_DHCP_REPLY_INVALID: 'setIp answered something that is not an IP address',
  ERR_DHCP_ADDRESS_UNUSABLE: 'setIp answered an address no device can have (unspecified, broadcast, multicast, link-local without ' +
    'scope); not used, asked again later',
  ERR_DHCP_ADDRESS_CONFLICT: 'setIp answered an address another thing of the rack already uses (its lease or opts.address); not used, ' +
    'asked again later',
  ERR_THING_COMMENT_NOTFOUND: 'no comment with that id or ts',
  ERR_COMMENT_ACCESS_DENIED: 'only the author may change a comment',
  ERR_QUERY_INVALID: 'a query operator that is not allowed, a $regex RE2 cannot run (back-references, lookarounds, over 256 characters ' +
    'or 128 RE2 instructions), or a query over its caps (256 operators, 16 $regex, 1000 $in/$nin/$all values, 32 levels)',
  ERR_FIELDS_INVALID: 'a projection that is not field inclusion/exclusion',
  ERR_INVALID_REQUEST_TYPE: 'getThingConf requestType is not nextAvailableCode',
  ERR_ALERT_NOTFOUND: 'an alert method named a uuid no alert of the rack has (pending, active, latched, shelved, suppressed or out of ' +
    'service); nothing was changed',
  ERR_ALERT_STATE_INVALID: 'acknowledgeAlerts named a pending alert (not active yet); nothing was changed',
  ERR_ALERT_SHELVE_TOO_LONG: 'shelveAlerts asked for longer than alarms.maxShelveMs (8 h by default); nothing was changed',
  ERR_ALERT_NOT_RESETTABLE: 'resetAlerts named an alert that is not a latched alert whose condition cleared; nothing was changed',
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
  ERR_COOLING_FAN_THRESHOLD_INVALID: 'setCoolingFanThreshold values out of range or inconsistent',
  // guarded control actions (template)
  ERR_DRY_RUN_UNSUPPORTED: 'dryRun on a thing whose controller has no previews; nothing was written',
  ERR_ACTION_RUNNING: 'an action with that actionId is still running on the thing; nothing was written',
  ERR_ACTION_NOTFOUND: 'getActions named an actionId the journal does not hold'
}
