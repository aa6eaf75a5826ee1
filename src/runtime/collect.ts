/**
 * A full garbage collection on demand, for the few places that make garbage Buffers faster than
 * V8 collects them. V8 frees a Buffer's memory only when it collects the small JS object that owns
 * it, and it starts that collection only once external memory has grown by ~64 MB since the last
 * one: a read-back that decrypts and inflates at a few hundred MB/s reaches that in ~150 ms, and
 * those 64 MB of dead Buffers are what put an encrypted backup's peak RSS over its budget
 * (docs/PERFORMANCE.md, "Memory"). `--expose-gc` set at run time gives new contexts a `gc`
 * function; one is made, its `gc` kept, and the flag is off again for everything else. A young-generation
 * collection (`gc({ type: 'minor' })`) was tried and did not free them (the Buffers' owners have
 * already been promoted): 50–68 MB of `external` left.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let gc: (() => void) | undefined | null

/** Runs a full collection; a no-op when the runtime does not offer one. */
export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc')
      gc = (runInNewContext('gc') as typeof gc) ?? null
    } catch {
      gc = null
    } finally {
      setFlagsFromString('--no-expose-gc')
    }
  }
  gc?.()
}
