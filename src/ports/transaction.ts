/**
 * Atomic work over a set of store operations `Ops` (docs/architecture.md, "Ports"). Each domain
 * names the operations its transactions use (`Transactional<Pick<KeyStore, 'guardKey'>>`); the
 * composed `Store` (src/store/port.ts) runs them with every operation at hand.
 */
export interface Transactional<Ops> {
  /** Runs `fn` atomically: all its writes commit together, or none if it throws. */
  transaction<T>(fn: (tx: Ops) => Promise<T>): Promise<T>;
}
