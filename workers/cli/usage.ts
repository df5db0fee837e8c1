/** `mbt-rpc --help`, its exit codes and the usage error (./args.ts parses the command line). */

export const DEFAULT_TIMEOUT_MS = 15_000
export const EXIT_OK = 0
export const EXIT_RPC_ERROR = 1
export const EXIT_USAGE = 2

export const USAGE = `Usage: mbt-rpc (-s <key> | --status-file <file> | --rack <wtype>-<rack> [--root <dir>])
               -m <method> [-d <json> | -f <file>] [-t <ms>] [--bn <host:port>]…
               [--seed-file <file> | --ds <hex seed>] [--table | --pretty | --raw]

Sends one JSON request to a worker over HyperDHT RPC and prints the reply.

  -s, --server <key>      the worker's RPC public key (64 hex characters)
      --status-file <f>   read the key (rpcPublicKey) from a worker's status file
      --rack <name>       shortcut for --status-file <root>/status/<name>.json,
                          e.g. --rack wrk-container-rack-kehua-shelf-1
      --root <dir>        the worker's root for --rack (default: the current directory)
  -m, --method <name>     RPC method, e.g. listThings (docs/rpc.md)
  -d, --data <json>       request as JSON text (default {})
  -f, --file <file>       request read from a JSON file ("-" = standard input);
                          a regular file of at most 1 MiB
  -t, --timeout <ms>      bound on the whole request, connecting included (default ${DEFAULT_TIMEOUT_MS})
      --bn <host:port>    DHT bootstrap node; repeat it or give a comma list (default:
                          with --status-file/--rack the worker's own, else the public nodes)
      --seed-file <f>     file (mode 0600) holding the 32-byte seed (64 hex characters) of
                          this client's key pair, for workers with an allow list (r0.allow);
                          or set MBT_RPC_SEED_FILE, or MBT_RPC_SEED to the seed itself
      --ds <hex>          the seed on the command line (visible in ps and shell history)
      --table             a one-screen summary of listThings and queryThing getSnap
                          (default on a terminal for those; other methods print JSON)
      --pretty, --raw     force pretty (indented) or raw JSON output
                          (default: pretty on a terminal, raw when piped)
  -V, --version           the package version
  -h, --help              this text

Exit status: 0 reply printed (also when the reader of stdout went away); 1 the worker
answered [HRPC_ERR]=<code>, or no reply (the code is printed on stderr); 2 usage error.`

/** A command-line mistake: printed with the usage hint, exit 2, nothing sent. */
export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
