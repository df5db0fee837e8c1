import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import neostandard from 'neostandard'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'store/**', 'status/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...neostandard({ ts: true, noJsx: true }),
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
      // `void promise` marks a promise deliberately not awaited (its errors handled inside)
      'no-void': ['error', { allowAsStatement: true }],
      // loops that await: the condition is changed by other tasks meanwhile, which the rule cannot see
      'no-unmodified-loop-condition': 'off'
    }
  },
  {
    files: ['tests/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' }
  },
  {
    // lines of at most 140 characters in the product and the mock (URLs excepted)
    files: ['workers/**/*.ts', 'mock/**/*.ts'],
    rules: {
      '@stylistic/max-len': ['error', {
        code: 140, ignoreUrls: true
      }]
    }
  }
)
