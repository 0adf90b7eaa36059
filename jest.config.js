/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Native suites share one process (run in band): each test file loads the addon in its
  // own context, which is itself a check that the addon keeps no static JS state.
  testTimeout: 60_000,
};
