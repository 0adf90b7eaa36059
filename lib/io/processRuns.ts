/** Whether a process with this id runs on this machine (another user's counts too). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether it could be signalled
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
