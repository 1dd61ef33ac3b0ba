import PostgresNIO

/// A Swift `TaskExecutor` that runs tasks on one NIO event loop.
///
/// Give a worker's `PostgresClient` a one-thread `EventLoopGroup` and the worker this executor
/// on that loop (`JobWorker(…, taskExecutor:)`): a query's answer then resumes the awaiting task
/// on the thread that read it, and a task's next query is written from that same thread, so a
/// job costs no hop between Swift's global pool and the event loop (each hop is a thread
/// wake-up and a context switch). Anything run there must not block the thread.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
