import type { OperationTable } from './operation.ts'

export type PlcSchema = {
  operation: OperationTable
}

export type { OperationTable }
