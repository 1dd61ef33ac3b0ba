import Foundation
import HybridMetrics
import HybridSettings
import Logging

/// What every executable does first: read the settings (one place, secrets redacted in errors)
/// and bootstrap logging at `LOG_LEVEL`.
public struct ProcessRuntime: Sendable {
    public let settings: Settings
    public let logger: Logger

    public static func load(label: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(SettingsError) -> ProcessRuntime
    {
        let settings = try Settings.load(environment: environment)
        LoggingSystem.bootstrap { name in
            var handler = StreamLogHandler.standardError(label: name)
            handler.logLevel = Logger.Level(rawValue: settings.logLevel) ?? .info
            return handler
        }
        ProcessMetrics.bootstrap()
        return ProcessRuntime(settings: settings, logger: Logger(label: label))
    }
}
