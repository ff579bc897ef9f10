// Hadoop exceptions as the WebHDFS/HttpFS servers report them. The class name and the
// status come from Hadoop's ExceptionHandler (NN/DN) and HttpFSExceptionProvider, so a
// client that passes here classifies errors the way it must on a real cluster.

/** How Hadoop's exception handlers see an exception (decides the HTTP status). */
export type ExceptionKind = 'notfound' | 'io' | 'illegal' | 'security' | 'runtime';

export class HdfsError extends Error {
  constructor(
    readonly exception: string,
    readonly javaClassName: string,
    message: string,
    readonly kind: ExceptionKind,
  ) {
    super(message);
    this.name = exception;
  }
}

const mk = (exception: string, javaClassName: string, kind: ExceptionKind) => (message: string) =>
  new HdfsError(exception, javaClassName, message, kind);

export const errors = {
  fileNotFound: mk('FileNotFoundException', 'java.io.FileNotFoundException', 'notfound'),
  accessControl: mk('AccessControlException', 'org.apache.hadoop.security.AccessControlException', 'io'),
  authorization: mk('AuthorizationException', 'org.apache.hadoop.security.authorize.AuthorizationException', 'io'),
  fileAlreadyExists: mk('FileAlreadyExistsException', 'org.apache.hadoop.fs.FileAlreadyExistsException', 'io'),
  parentNotDirectory: mk('ParentNotDirectoryException', 'org.apache.hadoop.fs.ParentNotDirectoryException', 'io'),
  pathIsNotEmptyDirectory: mk(
    'PathIsNotEmptyDirectoryException',
    'org.apache.hadoop.fs.PathIsNotEmptyDirectoryException',
    'io',
  ),
  alreadyBeingCreated: mk(
    'AlreadyBeingCreatedException',
    'org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException',
    'io',
  ),
  recoveryInProgress: mk(
    'RecoveryInProgressException',
    'org.apache.hadoop.hdfs.protocol.RecoveryInProgressException',
    'io',
  ),
  leaseExpired: mk('LeaseExpiredException', 'org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException', 'io'),
  safeMode: mk('SafeModeException', 'org.apache.hadoop.hdfs.server.namenode.SafeModeException', 'io'),
  standby: mk('StandbyException', 'org.apache.hadoop.ipc.StandbyException', 'io'),
  retriable: mk('RetriableException', 'org.apache.hadoop.ipc.RetriableException', 'io'),
  invalidToken: mk('InvalidToken', 'org.apache.hadoop.security.token.SecretManager$InvalidToken', 'io'),
  io: mk('IOException', 'java.io.IOException', 'io'),
  eof: mk('EOFException', 'java.io.EOFException', 'io'),
  connect: mk('ConnectException', 'java.net.ConnectException', 'io'),
  illegalArgument: mk('IllegalArgumentException', 'java.lang.IllegalArgumentException', 'illegal'),
  hadoopIllegalArgument: mk('HadoopIllegalArgumentException', 'org.apache.hadoop.HadoopIllegalArgumentException', 'illegal'),
  invalidPath: mk('InvalidPathException', 'org.apache.hadoop.fs.InvalidPathException', 'illegal'),
  unsupported: mk('UnsupportedOperationException', 'java.lang.UnsupportedOperationException', 'illegal'),
  runtime: mk('RuntimeException', 'java.lang.RuntimeException', 'runtime'),
};

/** Which server's exception-to-status table applies. */
export type ErrorFlavor = 'webhdfs' | 'httpfs';

/** Status matrix of protocols.md A.5. */
export function statusFor(err: HdfsError, flavor: ErrorFlavor): number {
  switch (err.kind) {
    case 'notfound':
      return 404;
    case 'illegal':
      return 400;
    case 'security':
      return flavor === 'httpfs' ? 401 : 403;
    case 'io':
      return flavor === 'httpfs' ? 500 : 403;
    default:
      return 500;
  }
}

// DistributedFileSystem unwraps these from the RPC RemoteException; everything else reaches
// HttpFS still wrapped, which is how "exception":"RemoteException" shows up in the wild.
const UNWRAPPED_BY_DFS_CLIENT = new Set([
  'FileNotFoundException',
  'AccessControlException',
  'FileAlreadyExistsException',
  'ParentNotDirectoryException',
  'SafeModeException',
  'IllegalArgumentException',
  'HadoopIllegalArgumentException',
  'InvalidPathException',
  'UnsupportedOperationException',
  'RuntimeException',
]);

export function errorJson(err: HdfsError, flavor: ErrorFlavor, wrapRemote: boolean): string {
  if (flavor === 'httpfs' && wrapRemote && !UNWRAPPED_BY_DFS_CLIENT.has(err.exception)) {
    return JSON.stringify({
      RemoteException: {
        message: err.message,
        exception: 'RemoteException',
        javaClassName: 'org.apache.hadoop.ipc.RemoteException',
      },
    });
  }
  return JSON.stringify({
    RemoteException: { exception: err.exception, javaClassName: err.javaClassName, message: err.message },
  });
}

/** Anything thrown that is not an HdfsError is a server bug: report it as Hadoop would (500). */
export function toHdfsError(e: unknown): HdfsError {
  if (e instanceof HdfsError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return errors.runtime(msg);
}
