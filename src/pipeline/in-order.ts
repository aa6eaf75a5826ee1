/**
 * The ordered queue of the parallel compressors (gzip-parallel.ts, zstd.ts): blocks are compressed
 * concurrently on the thread pool, but their outputs must leave in input order. Finished outputs at
 * the front leave without waiting; `drain` waits, front first, until at most `limit` are in flight.
 */
export interface Job {
  /** Settles with the block's compressed bytes; the compressor keeps it from rejecting unhandled. */
  result: Promise<Buffer>
  out: Buffer | undefined
  /** Called once its output was pushed (a gzip member's end: the file offset is known then). */
  pushed?: () => void
}

export class InOrder {
  readonly #jobs: Job[] = []
  readonly #push: (out: Buffer) => void

  constructor(push: (out: Buffer) => void) {
    this.#push = push
  }

  add(job: Job): void {
    this.#jobs.push(job)
  }

  /** Pushes finished outputs from the front, in order, without waiting. */
  pushFinished(): void {
    while (this.#jobs[0]?.out) {
      const job = this.#jobs.shift()!
      this.#push(job.out!)
      job.pushed?.()
    }
  }

  /** Waits, in order, until at most `limit` blocks are still in flight; a failed block rejects. */
  async drain(limit: number): Promise<void> {
    this.pushFinished()
    while (this.#jobs.length > limit) {
      const out = await this.#jobs[0]!.result
      const job = this.#jobs.shift()!
      this.#push(out)
      job.pushed?.()
      this.pushFinished()
    }
  }
}
