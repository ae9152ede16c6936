/** The firehose position: only ever the seq below which every event is fully indexed. */
export interface StreamCursorTable {
  service: string
  cursor: number
}
