// CPU accounting for the run, to tell a quiet machine from a busy one: the
// machine's busy time (/proc/stat) minus what the benchmark and the servers it
// started used is what other processes took while the figures were measured.
import fs from 'node:fs'

/** USER_HZ; 100 on every Linux x64 kernel config in practice. */
const TICKS_PER_SECOND = 100

type MachineCpu = { busy: number; steal: number }

/** Busy and stolen CPU-seconds of the whole machine since boot. */
const machineCpu = (): MachineCpu => {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
  // cpu user nice system idle iowait irq softirq steal …
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
  return {
    busy: (user! + nice! + system! + irq! + softirq!) / TICKS_PER_SECOND,
    steal: (steal ?? 0) / TICKS_PER_SECOND,
  }
}

/** User + system CPU-seconds used so far by a running process. */
export const processCpuSeconds = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  // fields after "(comm)": state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

const selfCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

export type CpuReport = {
  wallSeconds: number
  ownSeconds: number
  otherSeconds: number
  stealSeconds: number
}

/**
 * Starts a window. Call `addChild(seconds)` with each child's CPU time read
 * just before it is stopped; `finish()` reports what everything else used.
 */
export const cpuWindow = () => {
  const start = { machine: machineCpu(), self: selfCpuSeconds(), wall: performance.now() }
  let children = 0
  return {
    addChild(seconds: number): void {
      children += seconds
    },
    finish(): CpuReport {
      const machine = machineCpu()
      const own = selfCpuSeconds() - start.self + children
      return {
        wallSeconds: (performance.now() - start.wall) / 1000,
        ownSeconds: own,
        otherSeconds: Math.max(0, machine.busy - start.machine.busy - own),
        stealSeconds: machine.steal - start.machine.steal,
      }
    },
  }
}

export type CpuWindow = ReturnType<typeof cpuWindow>
