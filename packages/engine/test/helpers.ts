// Re-exports for tests, plus the generator's default vocabulary.
export * from '@sluice/engine';
export const DEFAULT_VOCABULARY_FOR_TESTS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu'];
